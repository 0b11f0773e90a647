"""The safe-XML guard in front of the feed parser: refuse what makes XML dangerous, nothing else.

XML's danger is in entities: internal entities expand ("billion laughs" memory bombs), external
ones read files or URLs (XXE), parameter entities pull in DTDs that declare either. A DOCTYPE by
itself is harmless and real feeds carry one (RSS 0.91's Netscape DOCTYPE), so `scan` drives
expat over the whole document and:

* refuses any entity declaration (general, parameter, unparsed; used or not), any external
  entity reference, and a prolog that is not well-formed (nothing shows it is safe);
* accepts a DOCTYPE, with or without an external DTD: external DTDs are never read
  (`XML_PARAM_ENTITY_PARSING_NEVER`), so entities they would declare stay undefined;
* reports, rather than refuses, a well-formedness error after the root element started (a bare
  `&` in a title): entities can only be declared in the prolog, which was then checked whole,
  so a lenient parser may still read such a document.

Nothing is built here: `scan` says what the document is; the feed parser reads it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.parsers import expat


class UnsafeXml(ValueError):
    """The document declares entities or references external ones (refused), or its prolog is
    not well-formed XML."""


@dataclass(frozen=True)
class XmlScan:
    """What the guard saw in a document it did not refuse."""

    root: str
    """The root element's name, `{namespace}local` when it has a namespace."""
    doctype: str | None = None
    """The DOCTYPE's name, when the document has one (it is allowed)."""
    error: str | None = None
    """The well-formedness error after the root element started, if any."""


class _Refused(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _name(raw: str) -> str:
    uri, sep, local = raw.rpartition(" ")
    return f"{{{uri}}}{local}" if sep else raw


def scan(data: bytes) -> XmlScan:
    """Check `data` (see the module notes); raises `UnsafeXml` when it is refused."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[str] = []
    doctype: list[str] = []

    def start_doctype(name: str, *_: object) -> None:
        doctype.append(name)

    def entity_declaration(*_: object) -> None:
        raise _Refused("an entity declaration")

    def external_entity(*_: object) -> int:
        raise _Refused("an external entity")

    def start(tag: str, _attrs: object) -> None:
        if not root:
            root.append(_name(tag))

    parser.StartDoctypeDeclHandler = start_doctype
    parser.EntityDeclHandler = entity_declaration
    parser.UnparsedEntityDeclHandler = entity_declaration
    parser.ExternalEntityRefHandler = external_entity
    parser.StartElementHandler = start
    error: str | None = None
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise UnsafeXml(f"XML with {exc.what} is refused") from None
    except expat.ExpatError as exc:
        error = f"not well-formed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}"
        if not root:
            raise UnsafeXml(error) from None
    return XmlScan(root=root[0], doctype=doctype[0] if doctype else None, error=error)
