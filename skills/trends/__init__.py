"""Trend fetching: `skill_fetch_trends` over YouTube, X, TikTok (Research API) and feeds.

One module per source (`youtube`, `twitter`, `tiktok`, `feed`), the skill in `skill`, velocity
from snapshots in `velocity`, settings in `config`. Importing the package registers the skill.
"""

from skills.trends.models import FetchTrendsInput, FetchTrendsOutput, SourceError, TrendsMetadata
from skills.trends.skill import fetch_trends

__all__ = ["FetchTrendsInput", "FetchTrendsOutput", "SourceError", "TrendsMetadata", "fetch_trends"]
