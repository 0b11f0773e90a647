"""Deterministic ids: the one rule for every id Chimera derives instead of drawing.

Handling the same input twice must produce the same ids (the same content, the same
publication, the same audit row, the same alert), so replays and redeliveries collapse onto
what exists. Every such id is `derived_id(kind, *parts)`: a UUIDv5 over the text
`chimera:<kind>:<part>:<part>...`. `kind` names what the id is for ("content", "publication",
"audit", "dlq-alert", ...), so two kinds never collide even with the same parts.
"""

from __future__ import annotations

import uuid

__all__ = ["derived_id"]


def derived_id(kind: str, *parts: object) -> uuid.UUID:
    """The id of the `kind` thing made from `parts` (each turned into text with `str`)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, ":".join(["chimera", kind, *map(str, parts)]))
