"""Footage providers: the local library (real files), Pexels and Pixabay (respx, their
documented JSON, errors and rate-limit headers), fetching through the SSRF guard, and the
choice of one visual per beat."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from core.errors import PermanentError, TransientError
from core.settings import Settings
from skills.context import SkillContext, SkillPaths
from skills.media.footage.library import LibraryProvider, scan
from skills.media.footage.models import FootageQuery, keywords, tag_score
from skills.media.footage.select import Beat, choose_visuals, ledger, unknown_licences
from skills.media.footage.stock import PexelsProvider, PixabayProvider
from skills.settings import SkillSettings
from tests.skills.media.support import make_clip, media_config
from tests.support import offline_client, offline_guard


def ctx_for(settings: Settings, http: httpx.AsyncClient, **cfg: object) -> SkillContext:
    """Footage and thumbnails come through the real guarded client, on a fake resolver."""
    return SkillContext(
        http=http,
        paths=SkillPaths.of(settings),
        settings=SkillSettings(media=media_config(**cfg)),
        untrusted_http=offline_client(offline_guard({"evil.example": ["10.0.0.8"]})),
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", media_dir=tmp_path / "media")


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("footage") / "clip.mp4", seconds=1.0, size="64x36")


async def choose_for(beats: list[Beat], ctx: SkillContext, settings: Settings) -> list:
    """The visuals the configured providers give `beats`."""
    from skills.media.footage.select import providers_for

    return await choose_visuals(
        beats,
        ctx,
        providers=providers_for(ctx.settings),
        topic_keywords=[],
        orientation="portrait",
        cache=settings.media_root / "footage",
    )


def library(root: Path, clip: Path) -> Path:
    (root / "nature").mkdir(parents=True)
    (root / "nature" / "ocean-waves-sunset.mp4").write_bytes(clip.read_bytes())
    (root / "city-night.mp4").write_bytes(clip.read_bytes())
    (root / "city-night.mp4.json").write_text(
        json.dumps({"tags": ["neon", "street"], "licence": "CC-BY-4.0", "author": "Ana"})
    )
    (root / "desk.jpg").write_bytes(b"not read by the scan")
    (root / "desk.json").write_text(json.dumps({"tags": ["workspace"]}))
    (root / "notes.txt").write_text("ignored")
    return root


# --- Pexels' documented GET /videos/search answer (abridged to two videos) -------------------
PEXELS = {
    "page": 1,
    "per_page": 2,
    "total_results": 20475,
    "url": "https://www.pexels.com/videos/",
    "videos": [
        {
            "id": 1448735,
            "width": 4096,
            "height": 2160,
            "duration": 32,
            "full_res": None,
            "tags": [],
            "url": "https://www.pexels.com/video/video-of-forest-1448735/",
            "image": "https://images.pexels.com/videos/1448735/free-video-1448735.jpg",
            "avg_color": None,
            "user": {
                "id": 574687,
                "name": "Ruvim Miksanskiy",
                "url": "https://www.pexels.com/@digitech",
            },
            "video_files": [
                {
                    "id": 58649,
                    "quality": "sd",
                    "file_type": "video/mp4",
                    "width": 640,
                    "height": 338,
                    "fps": 23.976,
                    "link": "https://videos.pexels.com/video-files/1448735/sd.mp4",
                },
                {
                    "id": 58650,
                    "quality": "hd",
                    "file_type": "video/mp4",
                    "width": 2048,
                    "height": 1080,
                    "fps": 23.976,
                    "link": "https://videos.pexels.com/video-files/1448735/hd.mp4",
                },
                {
                    "id": 58652,
                    "quality": "uhd",
                    "file_type": "video/mp4",
                    "width": 4096,
                    "height": 2160,
                    "fps": 23.976,
                    "link": "https://videos.pexels.com/video-files/1448735/uhd.mp4",
                },
            ],
            "video_pictures": [
                {"id": 133236, "picture": "https://images.pexels.com/p0.jpg", "nr": 0}
            ],
        },
        {
            "id": 2499611,
            "width": 1080,
            "height": 1920,
            "duration": 2,
            "tags": [],
            "url": "https://www.pexels.com/video/short-2499611/",
            "user": {"id": 1, "name": "Someone", "url": "https://www.pexels.com/@someone"},
            "video_files": [
                {
                    "id": 1,
                    "quality": "hd",
                    "file_type": "video/mp4",
                    "width": 1080,
                    "height": 1920,
                    "link": "https://videos.pexels.com/video-files/2499611/hd.mp4",
                }
            ],
        },
    ],
    "next_page": "https://api.pexels.com/v1/videos/search/?page=2&per_page=2&query=forest",
}
PEXELS_HEADERS = {
    "X-Ratelimit-Limit": "20000",
    "X-Ratelimit-Remaining": "19684",
    "X-Ratelimit-Reset": "1590529646",
}

# --- Pixabay's documented GET /api/videos/ answer (one hit) ------------------------------------
PIXABAY = {
    "total": 4692,
    "totalHits": 500,
    "hits": [
        {
            "id": 125,
            "pageURL": "https://pixabay.com/videos/id-125/",
            "type": "film",
            "tags": "flowers, yellow, blossom",
            "duration": 12,
            "videos": {
                "large": {
                    "url": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_large.mp4",
                    "width": 1920,
                    "height": 1080,
                    "size": 6615235,
                    "thumbnail": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_large.jpg",
                },
                "medium": {
                    "url": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_medium.mp4",
                    "width": 1280,
                    "height": 720,
                    "size": 3562083,
                    "thumbnail": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_medium.jpg",
                },
                "small": {
                    "url": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_small.mp4",
                    "width": 640,
                    "height": 360,
                    "size": 1030736,
                    "thumbnail": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_small.jpg",
                },
                "tiny": {
                    "url": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_tiny.mp4",
                    "width": 480,
                    "height": 270,
                    "size": 426799,
                    "thumbnail": "https://cdn.pixabay.com/video/2015/08/08/125-135736646_tiny.jpg",
                },
            },
            "views": 4462,
            "downloads": 1464,
            "likes": 18,
            "comments": 0,
            "user_id": 1281706,
            "user": "Coverr-Free-Footage",
            "userImageURL": "https://cdn.pixabay.com/user/2015/10/16/09-28-45-303_250x250.png",
        }
    ],
}


def test_keywords_and_scores() -> None:
    assert keywords("Why is THE neon city glowing tonight? Here is why.") == [
        "neon",
        "city",
        "glowing",
        "tonight",
    ]
    assert tag_score(["neon", "street"], ["neon", "streets"]) == 1.5


async def test_the_library_ranks_files_by_tags(tmp_path, settings, small_clip) -> None:
    root = library(tmp_path / "lib", small_clip)
    found = {a.rights.id: a for a in scan(root)}
    assert set(found) == {"nature/ocean-waves-sunset.mp4", "city-night.mp4", "desk.jpg"}
    assert found["desk.jpg"].kind == "image" and "workspace" in found["desk.jpg"].tags
    assert "nature" in found["nature/ocean-waves-sunset.mp4"].tags  # folder names count
    city = found["city-night.mp4"].rights
    assert (city.licence, city.author) == ("CC-BY-4.0", "Ana")
    assert found["desk.jpg"].rights.licence == "unknown"
    async with httpx.AsyncClient() as http:
        ctx = ctx_for(settings, http)
        ranked = await LibraryProvider(root).search(
            FootageQuery(keywords=["neon", "night", "ocean"]), ctx
        )
    assert [a.rights.id for a in ranked] == ["city-night.mp4", "nature/ocean-waves-sunset.mp4"]


@respx.mock
async def test_pexels_search_as_documented(settings) -> None:
    route = respx.get("https://api.pexels.com/videos/search").mock(
        return_value=httpx.Response(200, json=PEXELS, headers=PEXELS_HEADERS)
    )
    async with httpx.AsyncClient() as http:
        provider = PexelsProvider(SecretStr("pexels-key"))
        found = await provider.search(
            FootageQuery(keywords=["forest", "trees"], min_duration_s=3), ctx_for(settings, http)
        )
    request = route.calls[0].request
    assert request.headers["authorization"] == "pexels-key"
    assert dict(request.url.params) == {
        "query": "forest trees",
        "orientation": "portrait",
        "size": "medium",
        "per_page": "5",
    }
    [video] = found  # the 2 s one is shorter than the beat needs
    assert video.remote_url == "https://videos.pexels.com/video-files/1448735/hd.mp4"  # >= 1080
    assert video.rights.model_dump() == {
        "provider": "pexels",
        "id": "1448735",
        "url": "https://www.pexels.com/video/video-of-forest-1448735/",
        "author": "Ruvim Miksanskiy",
        "author_url": "https://www.pexels.com/@digitech",
        "licence": "Pexels License",
        "licence_url": "https://www.pexels.com/license/",
    }


@respx.mock
async def test_pexels_rate_limit_is_honoured(settings) -> None:
    reset = int(time.time()) + 120
    route = respx.get("https://api.pexels.com/videos/search").mock(
        return_value=httpx.Response(
            200,
            json=PEXELS,
            headers={
                "X-Ratelimit-Limit": "200",
                "X-Ratelimit-Remaining": "0",
                "X-Ratelimit-Reset": str(reset),
            },
        )
    )
    async with httpx.AsyncClient() as http:
        ctx = ctx_for(settings, http)
        provider = PexelsProvider(SecretStr("k"))
        assert await provider.search(FootageQuery(keywords=["forest"]), ctx)  # still good
        with pytest.raises(TransientError) as used_up:
            await provider.search(FootageQuery(keywords=["forest"]), ctx)
    assert route.call_count == 1  # nothing is sent while the quota is used up
    assert used_up.value.code == "FOOTAGE_RATE_LIMITED"
    assert 100 < (used_up.value.retry_after or 0) <= 120


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "code"),
    [
        (
            429,
            {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "9999999999"},
            "",
            TransientError,
            "FOOTAGE_RATE_LIMITED",
        ),
        (401, {}, '{"error": "Unauthorized"}', PermanentError, "FOOTAGE_AUTH"),
        (503, {}, "", TransientError, "FOOTAGE_UNAVAILABLE"),
    ],
)
@respx.mock
async def test_pexels_errors(settings, status, headers, body, error, code) -> None:
    respx.get("https://api.pexels.com/videos/search").mock(
        return_value=httpx.Response(status, headers=headers, text=body)
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(error) as raised:
            await PexelsProvider(SecretStr("k")).search(
                FootageQuery(keywords=["x"]), ctx_for(settings, http)
            )
    assert raised.value.code == code


@respx.mock
async def test_pixabay_search_as_documented(settings) -> None:
    route = respx.get("https://pixabay.com/api/videos/").mock(
        return_value=httpx.Response(
            200,
            json=PIXABAY,
            headers={
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "99",
                "X-RateLimit-Reset": "60",
            },
        )
    )
    async with httpx.AsyncClient() as http:
        [video] = await PixabayProvider(SecretStr("pixabay-key")).search(
            FootageQuery(keywords=["yellow", "flowers"]), ctx_for(settings, http)
        )
    params = dict(route.calls[0].request.url.params)
    assert params["key"] == "pixabay-key" and params["q"] == "yellow flowers"
    assert video.tags == ["flowers", "yellow", "blossom"] and video.duration == 12
    assert video.remote_url.endswith("_large.mp4") and video.width == 1920
    assert video.rights.licence == "Pixabay Content License"
    assert video.rights.author == "Coverr-Free-Footage"
    assert video.rights.url == "https://pixabay.com/videos/id-125/"
    assert video.rights.author_url == "https://pixabay.com/users/Coverr-Free-Footage-1281706/"


@respx.mock
async def test_pixabay_errors_and_reset_in_seconds(settings) -> None:
    route = respx.get("https://pixabay.com/api/videos/")
    route.side_effect = [
        httpx.Response(400, text='[ERROR 400] "key" is wrong or missing.'),
        httpx.Response(429, text="Too many requests", headers={"X-RateLimit-Reset": "42"}),
    ]
    async with httpx.AsyncClient() as http:
        ctx = ctx_for(settings, http)
        with pytest.raises(PermanentError) as bad:
            await PixabayProvider(SecretStr("k")).search(FootageQuery(keywords=["x"]), ctx)
        assert bad.value.code == "FOOTAGE_REFUSED" and "ERROR 400" in bad.value.message
        with pytest.raises(TransientError) as limited:
            await PixabayProvider(SecretStr("k")).search(FootageQuery(keywords=["x"]), ctx)
    assert limited.value.code == "FOOTAGE_RATE_LIMITED" and limited.value.retry_after == 42


@respx.mock
async def test_one_visual_per_beat_fetched_through_the_guard(
    settings, tmp_path, small_clip
) -> None:
    def search(request: httpx.Request) -> httpx.Response:
        found = PEXELS if "forest" in request.url.params["query"] else {**PEXELS, "videos": []}
        return httpx.Response(200, json=found, headers=PEXELS_HEADERS)

    respx.get("https://api.pexels.com/videos/search").mock(side_effect=search)
    hd = respx.get("https://videos.pexels.com/video-files/1448735/hd.mp4").mock(
        return_value=httpx.Response(
            302, headers={"Location": "https://cdn.example.com/forest-hd.mp4"}
        )
    )
    cdn = respx.get("https://cdn.example.com/forest-hd.mp4").mock(
        return_value=httpx.Response(200, content=small_clip.read_bytes())
    )
    root = library(tmp_path / "lib", small_clip)
    beats = [
        Beat("A walk in the forest.", 0.0, 2.0),
        Beat("Neon lights at night.", 2.0, 4.0),
        Beat("Then the ocean waves.", 4.0, 6.0),
        Beat("Zzzz qqqq.", 6.0, 7.0),  # nothing matches: least used library asset
    ]
    async with httpx.AsyncClient() as http:
        ctx = ctx_for(
            settings,
            http,
            pexels_api_key=SecretStr("k"),
            footage_library=root,
            footage_providers=["pexels", "library"],
        )
        visuals = await choose_for(beats, ctx, settings)
    assert [v.asset.rights.provider for v in visuals] == ["pexels", "library", "library", "library"]
    assert hd.call_count == 1 and cdn.call_count == 1  # the redirect was checked and followed
    assert (
        visuals[0].asset.path is not None
        and visuals[0].asset.path.read_bytes() == small_clip.read_bytes()
    )
    assert visuals[1].asset.rights.id == "city-night.mp4"
    assert visuals[2].asset.rights.id == "nature/ocean-waves-sunset.mp4"
    assert [(v.start, v.end) for v in visuals] == [(0, 2), (2, 4), (4, 6), (6, 7)]
    rights = ledger(visuals)
    assert rights[0].provider == "pexels" and len(rights) == len({r.id for r in rights})
    assert [r.id for r in unknown_licences(rights)] == [
        r.id for r in rights if r.licence == "unknown"
    ]


@respx.mock
async def test_a_redirect_to_a_private_address_is_refused(settings, small_clip) -> None:
    respx.get("https://api.pexels.com/videos/search").mock(
        return_value=httpx.Response(200, json=PEXELS, headers=PEXELS_HEADERS)
    )
    respx.get("https://videos.pexels.com/video-files/1448735/hd.mp4").mock(
        return_value=httpx.Response(302, headers={"Location": "http://evil.example/x.mp4"})
    )
    inner = respx.get("http://evil.example/x.mp4").mock(
        return_value=httpx.Response(200, content=b"secret")
    )
    notes: list[str] = []
    async with httpx.AsyncClient() as http:
        ctx = ctx_for(settings, http, pexels_api_key=SecretStr("k"), footage_providers=["pexels"])
        from skills.media.footage.select import providers_for

        [visual] = await choose_visuals(
            [Beat("forest", 0, 3)],
            ctx,
            providers=providers_for(ctx.settings),
            topic_keywords=[],
            orientation="portrait",
            cache=settings.media_root / "footage",
            notes=notes,
        )
    assert inner.call_count == 0  # never contacted
    assert visual.asset.kind == "generated" and visual.asset.rights.licence == "CC0-1.0"
    assert any("URL_REFUSED" in n and "10.0.0.8" in n for n in notes), notes


@respx.mock
async def test_the_trend_thumbnail_as_a_still(settings, tmp_path) -> None:
    from PIL import Image

    png = tmp_path / "thumb.png"
    Image.new("RGB", (320, 180), (200, 40, 40)).save(png)
    respx.get("https://i.ytimg.com/vi/abc/hqdefault.jpg").mock(
        return_value=httpx.Response(200, content=png.read_bytes())
    )
    async with httpx.AsyncClient() as http:
        ctx = ctx_for(settings, http, footage_providers=["thumbnail"])
        visuals = await choose_visuals(
            [Beat("one", 0, 1), Beat("two", 1, 2)],
            ctx,
            providers=[],
            topic_keywords=[],
            orientation="portrait",
            cache=settings.media_root / "footage",
            thumbnail_url="https://i.ytimg.com/vi/abc/hqdefault.jpg",
        )
    assert [v.asset.kind for v in visuals] == ["image", "image"]
    assert visuals[0].asset.rights.provider == "thumbnail"
    assert visuals[0].asset.rights.licence == "unknown"  # someone else's picture
    assert respx.calls.call_count == 1  # fetched once, reused


async def test_the_same_footage_never_shows_twice_in_a_row(settings, tmp_path, small_clip) -> None:
    root = library(tmp_path / "lib", small_clip)
    beats = [Beat("Neon city nights.", i * 2.0, i * 2.0 + 2.0) for i in range(4)]  # one match
    async with httpx.AsyncClient() as http:
        ctx = ctx_for(settings, http, footage_library=root, footage_providers=["library"])
        visuals = await choose_for(beats, ctx, settings)
    keys = [v.asset.key for v in visuals]
    assert keys[0] == keys[2] == "library:city-night.mp4"  # the match, whenever it may
    assert all(a != b for a, b in itertools.pairwise(keys)), keys
