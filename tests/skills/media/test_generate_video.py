"""skill_generate_video: real renders (small and short), checked with ffprobe and PyAV."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from skills.base import invoke_json
from skills.media.render import frame_size, generate_video, plan_captions
from tests.skills.media.support import ffprobe, media_config

pytestmark = pytest.mark.slow  # real faster-whisper / moviepy+x264 work

SCRIPT = {
    "title": "Chimera",
    "hook": "Did you know?",
    "body": ["Octopuses have three hearts.", "And blue blood."],
    "call_to_action": "Follow for more",
}
SMALL = {"resolution_scale": 0.25, "preset": "ultrafast", "fps": 15}


def streams(path: Path) -> dict[str, dict]:
    return {s["codec_type"]: s for s in ffprobe(path)["streams"]}


def frame_at(path: Path, t: float) -> np.ndarray:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= t:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {t}s")


def check_file(out, settings) -> Path:
    path = Path(out.path)
    assert path.parent == settings.media_root / "renders"
    assert out.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert out.size == path.stat().st_size
    # Only the finished video is left: no temporary video or audio files.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    return path


async def test_vertical_video_without_narration(settings, make_ctx) -> None:
    ctx = make_ctx(media_config())
    out = await invoke_json(
        generate_video, {"script": SCRIPT, "duration_s": 3, **SMALL, "output_name": "short"}, ctx
    )
    assert out.success, out.error
    path = check_file(out, settings)
    assert path.name == "short.mp4"
    found = streams(path)
    assert set(found) == {"video"}  # no narration: no audio stream
    assert (
        (found["video"]["width"], found["video"]["height"]) == (270, 480) == (out.width, out.height)
    )
    assert found["video"]["codec_name"] == "h264" and found["video"]["pix_fmt"] == "yuv420p"
    assert abs(float(ffprobe(path)["format"]["duration"]) - 3.0) < 0.1
    assert out.resolution == "270x480" and not out.has_audio and out.captions == 4

    # The captions are burnt in: white text over the dark background where a caption shows.
    frame = frame_at(path, 1.5)
    caption_band = frame[int(480 * 0.6) : int(480 * 0.85)]
    assert (caption_band.min(axis=2) > 200).sum() > 50
    assert frame[int(480 * 0.4) : int(480 * 0.55)].max() < 60  # nothing in the middle
    # The captions change with time (first cue, then the last); the title stays on top.
    first, last = frame_at(path, 0.2), frame_at(path, 2.8)
    band = slice(int(480 * 0.6), int(480 * 0.85))
    assert np.abs(first[band].astype(int) - last[band].astype(int)).mean() > 5
    for shot in (first, last):
        assert (shot[: int(480 * 0.15)].min(axis=2) > 200).sum() > 30


async def test_narrated_landscape_video_has_audio(settings, make_ctx) -> None:
    ctx = make_ctx(media_config())
    out = await invoke_json(
        generate_video, {"script": SCRIPT, "narrate": True, "aspect": "16:9", **SMALL}, ctx
    )
    assert out.success, out.error
    path = check_file(out, settings)
    found = streams(path)
    assert set(found) == {"video", "audio"}
    assert (out.width, out.height) == (480, 270)
    assert found["audio"]["codec_name"] == "aac"
    duration = float(ffprobe(path)["format"]["duration"])
    assert abs(duration - out.duration) < 0.15
    assert 2.0 < duration < 15.0  # espeak-ng speaking four short lines


async def test_square_video_over_a_looped_background_with_given_captions(
    settings, make_ctx, clip, speech
) -> None:
    folder = settings.media_root / "in"
    folder.mkdir(parents=True)
    shutil.copy(clip, folder / "background.mp4")  # 2 s, 320x240: looped and cropped
    shutil.copy(speech, folder / "voice.wav")
    captions = [
        {"start": 0.0, "end": 1.5, "text": "Hello world."},
        {"start": 1.5, "end": 3.5, "text": "This is a test."},
    ]
    ctx = make_ctx(media_config())
    out = await invoke_json(
        generate_video,
        {
            "script": {"title": "Square"},
            "aspect": "1:1",
            "background_video": "in/background.mp4",
            "narration_audio": "in/voice.wav",
            "captions": captions,
            **SMALL,
        },
        ctx,
    )
    assert out.success, out.error
    path = Path(out.path)
    found = streams(path)
    assert set(found) == {"video", "audio"} and (out.width, out.height) == (270, 270)
    assert out.captions == 2
    voice = float(ffprobe(folder / "voice.wav")["format"]["duration"])
    assert abs(float(ffprobe(path)["format"]["duration"]) - voice) < 0.15

    # Past the background's 2 s it starts again (looped), rather than freezing or going black:
    # away from the texts, 2.2 s looks like 0.2 s, and unlike the last frames before 2 s.
    def middle(t: float) -> np.ndarray:
        return frame_at(path, t)[int(270 * 0.25) : int(270 * 0.55)].astype(int)

    again = np.abs(middle(2.2) - middle(0.2)).mean()
    before = np.abs(middle(2.2) - middle(1.9)).mean()
    assert middle(2.2).mean() > 30 and again < before, (again, before)


async def test_bad_requests_are_validation_errors(settings, make_ctx) -> None:
    ctx = make_ctx(media_config())
    out = await invoke_json(generate_video, {"script": {}, "duration_s": 2, **SMALL}, ctx)
    assert out.error is not None and out.error.code == "EMPTY_SCRIPT"
    out = await invoke_json(
        generate_video, {"script": SCRIPT, "background_video": "in/none.mp4", **SMALL}, ctx
    )
    assert out.error is not None and out.error.code == "FILE_NOT_FOUND"
    out = await invoke_json(generate_video, {"script": SCRIPT, "aspect": "4:3"}, ctx)
    assert out.error is not None and out.error.code == "INVALID_INPUT"
    out = await invoke_json(generate_video, {"script": SCRIPT, "preset": "warp-speed"}, ctx)
    assert out.error is not None and out.error.code == "INVALID_INPUT"
    out = await invoke_json(
        generate_video, {"script": SCRIPT, "narration_audio": "/etc/hostname"}, ctx
    )
    assert out.error is not None and out.error.code == "PATH_OUTSIDE_MEDIA_ROOT"
    ctx = make_ctx(media_config(render_max_duration_s=5))
    out = await invoke_json(generate_video, {"script": SCRIPT, "duration_s": 10, **SMALL}, ctx)
    assert out.error is not None and out.error.code == "DURATION_TOO_LONG"


@pytest.mark.parametrize(
    ("aspect", "scale", "size"),
    [
        ("9:16", 1.0, (1080, 1920)),
        ("16:9", 1.0, (1920, 1080)),
        ("1:1", 1.0, (1080, 1080)),
        ("9:16", 0.25, (270, 480)),
        ("16:9", 0.33, (634, 356)),
    ],
)
def test_frame_sizes_are_even(aspect: str, scale: float, size: tuple[int, int]) -> None:
    assert frame_size(aspect, scale) == size
    assert all(side % 2 == 0 for side in frame_size(aspect, scale))


def test_captions_cover_the_narration_in_order() -> None:
    cues = plan_captions(["Short.", "A much longer line of the script body.", "End."], 9.0)
    assert cues[0].start == 0.0 and cues[-1].end == 9.0
    assert all(a.end == b.start for a, b in itertools.pairwise(cues))
    assert cues[1].end - cues[1].start > cues[0].end - cues[0].start  # longer line, longer cue
    assert plan_captions([], 5.0) == []


def test_overlay_blending_and_clipping() -> None:
    from skills.media.render import Overlay

    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:, :3, 3] = 255  # left half opaque white, right half transparent
    frame = np.full((3, 5, 3), 10, np.uint8)
    overlay = Overlay.of(rgba, x=-1, y=1, start=0, end=1, width=5, height=3)
    assert (overlay.x, overlay.y) == (0, 1) and overlay.fg.shape[:2] == (2, 5)
    overlay.blend(frame)
    assert (frame[0] == 10).all()  # above the overlay: untouched
    assert (frame[1:, :2] == 255).all()  # opaque part (its first column was cut off)
    assert (frame[1:, 2:] == 10).all()  # transparent part: background shows
