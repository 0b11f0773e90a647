"""Footage for the video's beats: one interface (`FootageProvider`), several sources.

* `LibraryProvider` — a local folder of clips and images (the offline default), tagged by file
  name words or a sidecar JSON (`clip.mp4.json` or `clip.json`: tags, licence, author, url).
* `PexelsProvider`, `PixabayProvider` — stock video search APIs (keys by setting).
* `ReferenceProvider` — the trend's own reference clip (downloaded by the pipeline).
* `StillProvider` — still images (the trend's thumbnail), animated with a slow pan and zoom.

Every chosen asset carries its origin and licence (`AssetRights`): the rights ledger.
"""

from skills.media.footage.models import Asset, AssetRights, FootageProvider, FootageQuery
from skills.media.footage.select import choose_visuals, providers_for

__all__ = [
    "Asset",
    "AssetRights",
    "FootageProvider",
    "FootageQuery",
    "choose_visuals",
    "providers_for",
]
