"""The quality gate on real files made by ffmpeg: a good video passes; a 3 s black stretch, a
too-quiet one, a too-long one, a frozen one, a wrong size or codec are refused with codes and
the measured values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from skills.base import invoke_json
from skills.media.quality import check_video
from skills.media.sound import measure
from tests.skills.media.support import media_config

pytestmark = pytest.mark.slow  # real encodes and decodes

SIZE = "72x128"
GOOD_AUDIO = "sine=f=440:r=48000,volume=8dB"  # about -14 LUFS (sine is -18 dBFS)


def encode(path: Path, video: str, audio: str | None, seconds: float, *extra: str) -> Path:
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-t", str(seconds), "-i", video]
    if audio is not None:
        args += ["-f", "lavfi", "-t", str(seconds), "-i", audio]
    # ultrafast alone encodes Constrained Baseline; CABAC and 8x8 transforms make it High.
    profile = [] if "-profile:v" in extra else ["-x264-params", "cabac=1:8x8dct=1"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *profile, *extra]
    if audio is not None:
        args += ["-c:a", "aac", "-b:a", "96k"]
    subprocess.run([*args, str(path)], check=True, timeout=120)
    return path


def moving(seconds: float = 4) -> str:
    return f"testsrc2=s={SIZE}:r=15:d={seconds}"


async def check(settings, make_ctx, path: Path, **extra: object):
    data = {"path": str(path), "width": 72, "height": 128, **extra}
    return await invoke_json(check_video, data, make_ctx(media_config()))


def media(settings, name: str) -> Path:
    folder = settings.media_root / "q"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


async def test_a_good_video_passes(settings, make_ctx) -> None:
    path = encode(media(settings, "good.mp4"), moving(), GOOD_AUDIO, 4)
    loud = await measure(path)
    assert abs(loud.integrated_lufs + 14) <= 1, loud  # the fixture is what it claims
    out = await check(settings, make_ctx, path, platforms=["youtube", "twitter", "tiktok"])
    assert out.success, out.error
    assert (out.video_codec, out.video_profile, out.pixel_format) == ("h264", "High", "yuv420p")
    assert out.audio_codec == "aac" and out.black_stretches == [] and out.frozen_stretches == []


async def test_a_three_second_black_stretch_is_refused(settings, make_ctx) -> None:
    video = (
        f"testsrc2=s={SIZE}:r=15:d=1.5[a];color=black:s={SIZE}:r=15:d=3[b];"
        f"testsrc2=s={SIZE}:r=15:d=1.5[c];[a][b][c]concat=n=3"
    )
    path = encode(media(settings, "black.mp4"), video, GOOD_AUDIO, 6)
    out = await check(settings, make_ctx, path)
    assert out.error is not None and out.error.code == "QUALITY_BLACK"
    problem, frozen = out.error.details["problems"]  # a black picture is a still one too
    assert frozen["code"] == "QUALITY_FROZEN"
    start, end = (float(x) for x in problem["measured"].removesuffix(" s").split("-"))
    assert abs(start - 1.5) < 0.2 and abs(end - 4.5) < 0.2


async def test_a_too_quiet_video_is_refused(settings, make_ctx) -> None:
    path = encode(media(settings, "quiet.mp4"), moving(), "sine=f=440:r=48000,volume=-4dB", 4)
    out = await check(settings, make_ctx, path)
    assert out.error is not None and out.error.code == "QUALITY_LOUDNESS"
    measured = out.error.details["problems"][0]["measured"]
    assert -28 < measured < -23  # about -25.8 LUFS, far under -14 ± 1


async def test_a_too_long_video_is_refused_per_platform(settings, make_ctx) -> None:
    path = encode(
        media(settings, "long.mp4"),
        f"testsrc2=s={SIZE}:r=2:d=141",
        GOOD_AUDIO,
        141,
    )
    assert (await check(settings, make_ctx, path, platforms=["youtube"])).success  # <= 3 min
    out = await check(settings, make_ctx, path, platforms=["youtube", "twitter"])
    assert out.error is not None and out.error.code == "QUALITY_TOO_LONG"
    [problem] = out.error.details["problems"]
    assert problem["message"] == "too long for twitter" and problem["measured"] > 140


async def test_a_frozen_picture_is_refused(settings, make_ctx) -> None:
    path = encode(media(settings, "still.mp4"), f"color=red:s={SIZE}:r=15", GOOD_AUDIO, 4)
    out = await check(settings, make_ctx, path)
    assert out.error is not None and out.error.code == "QUALITY_FROZEN"


async def test_wrong_size_codec_and_captions(settings, make_ctx) -> None:
    path = encode(
        media(settings, "baseline.mp4"), moving(), GOOD_AUDIO, 4, "-profile:v", "baseline"
    )
    out = await check(
        settings,
        make_ctx,
        path,
        width=144,
        height=256,
        caption_boxes=[{"x": 100, "y": 200, "w": 60, "h": 30}],  # into the right-hand UI
    )
    assert out.error is not None and out.error.code == "QUALITY_VIDEO_CODEC"
    codes = [p["code"] for p in out.error.details["problems"]]
    assert codes == ["QUALITY_VIDEO_CODEC", "QUALITY_RESOLUTION", "QUALITY_CAPTIONS_OUTSIDE"]
    assert out.error.details["problems"][0]["measured"] == "h264 Constrained Baseline"
