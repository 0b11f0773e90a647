"""Parse untrusted XML with the standard library, refusing what makes XML dangerous.

`xml.etree` expands internal entities, which allows "billion laughs" style memory bombs, and
defusedxml is not a dependency here. Feeds never need a DOCTYPE, so this parser drives expat
directly and refuses any document type declaration, entity declaration or external entity
reference before anything is expanded; the tree is built with `ElementTree.TreeBuilder`, so the
result is an ordinary `xml.etree.ElementTree.Element` (namespaced tags as "{uri}local").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat


class UnsafeXml(ValueError):
    """The document declares a DOCTYPE or entities (refused), or is not well-formed."""


def _refuse(what: str) -> Any:
    def handler(*_: Any) -> Any:
        raise UnsafeXml(f"XML with {what} is refused")

    return handler


def _name(raw: str) -> str:
    uri, sep, local = raw.rpartition(" ")
    return f"{{{uri}}}{local}" if sep else raw


def parse(data: bytes) -> ET.Element:
    """The root element of `data`; raises `UnsafeXml` for DOCTYPE/entities or malformed XML."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.ordered_attributes = False
    parser.StartDoctypeDeclHandler = _refuse("a DOCTYPE")
    parser.EntityDeclHandler = _refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = _refuse("an entity declaration")
    parser.ExternalEntityRefHandler = _refuse("an external entity")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def start(tag: str, attrs: dict[str, str]) -> None:
        builder.start(_name(tag), {_name(k): v for k, v in attrs.items()})

    def end(tag: str) -> None:
        builder.end(_name(tag))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise UnsafeXml(
            f"not well-formed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}"
        ) from None
    root = builder.close()
    return root
