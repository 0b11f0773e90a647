"""skill_generate_video: real renders (small and short), checked with ffprobe and PyAV."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from skills.base import invoke_json
from skills.media.quality import check_video
from skills.media.render import frame_size, generate_video, plan_captions
from tests.skills.media.support import ffprobe, media_config

pytestmark = pytest.mark.slow  # real faster-whisper / Piper / ffmpeg+x264 work

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
    assert set(found) == {"video", "audio"}  # a silent AAC track: platforms expect one
    assert (
        (found["video"]["width"], found["video"]["height"]) == (270, 480) == (out.width, out.height)
    )
    assert found["video"]["codec_name"] == "h264" and found["video"]["pix_fmt"] == "yuv420p"
    assert found["video"]["profile"] == "High" and found["audio"]["codec_name"] == "aac"
    assert abs(float(ffprobe(path)["format"]["duration"]) - 3.0) < 0.1
    assert out.resolution == "270x480" and out.caption_style == "karaoke"
    assert out.caption_timing == "proportional" and out.voice is None and out.loudness is None
    # Nothing found: generated gradients, one per sentence, each recorded with its licence.
    assert out.visuals >= 4 and out.cuts == out.visuals - 1
    assert {a.provider for a in out.assets} == {"generated"}
    assert all(a.licence == "CC0-1.0" for a in out.assets)

    # Karaoke captions are burnt in: white text in the caption band, never under the
    # bottom UI (22 %) or the right-hand buttons (15 %).
    def white(frame: np.ndarray) -> np.ndarray:
        return frame.min(axis=2) > 215

    frame = frame_at(path, 1.5)
    band = white(frame[int(480 * 0.45) : int(480 * 0.70)])
    assert band.sum() > 40
    assert white(frame[int(480 * 0.78) :]).sum() == 0
    assert white(frame[:, int(270 * 0.86) :]).sum() == 0
    # The words change with time; the title is on top at first.
    first, last = frame_at(path, 0.2), frame_at(path, 2.8)
    rows = slice(int(480 * 0.45), int(480 * 0.70))
    assert np.abs(first[rows].astype(int) - last[rows].astype(int)).mean() > 3
    assert white(first[: int(480 * 0.25)]).sum() > 30
    for box in out.caption_boxes:
        assert box.x >= 0 and box.y >= 0 and box.x + box.w <= 270 and box.y + box.h <= 480


async def test_narrated_landscape_video_with_the_espeak_voice(settings, make_ctx) -> None:
    ctx = make_ctx(media_config(tts_engine="espeak"))
    out = await invoke_json(
        generate_video, {"script": SCRIPT, "narrate": True, "aspect": "16:9", **SMALL}, ctx
    )
    assert out.success, out.error
    path = check_file(out, settings)
    found = streams(path)
    assert set(found) == {"video", "audio"} and (out.width, out.height) == (480, 270)
    assert found["audio"]["codec_name"] == "aac"
    duration = float(ffprobe(path)["format"]["duration"])
    assert abs(duration - out.duration) < 0.15
    assert 2.0 < duration < 15.0  # espeak-ng speaking four short lines
    assert out.voice is not None and out.voice.engine == "espeak"
    assert out.caption_style == "sentence" and out.caption_timing == "whisper"
    assert out.loudness is not None and abs(out.loudness.integrated_lufs + 14) <= 1


def lavfi(source: str, *args: str | Path) -> None:
    """ffmpeg making a file from a lavfi source."""
    command = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, *map(str, args)]
    subprocess.run(command, check=True, timeout=120)


def loudnorm_measure(path: Path) -> dict:
    """An independent measurement (ffmpeg's loudnorm analysis, not ebur128)."""
    err = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-i",
            str(path),
            "-af",
            "loudnorm=print_format=json",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stderr
    return json.loads(err[err.rfind("{") : err.rfind("}") + 1])


async def test_a_short_worth_posting(settings, make_ctx, tmp_path) -> None:
    """Piper, word-timed karaoke, library footage cut per sentence, ducked music, -14 LUFS."""
    lib = tmp_path / "library"
    lib.mkdir()
    for name, source in {
        "octopus-ocean-deep.mp4": "testsrc2=s=320x568:r=15",
        "hearts-blood-pump.mp4": "mandelbrot=s=320x568:r=15",
    }.items():
        lavfi(source, "-t", "3", "-pix_fmt", "yuv420p", lib / name)
        (lib / f"{name}.json").write_text(json.dumps({"licence": "CC0-1.0", "author": "test"}))
    from PIL import Image

    Image.new("RGB", (400, 700), (20, 90, 160)).save(lib / "copper-blue.jpg")
    (lib / "copper-blue.jpg.json").write_text(json.dumps({"tags": ["copper", "blue"]}))
    music = tmp_path / "music"
    music.mkdir()
    lavfi("sine=f=220:d=4", "-c:a", "aac", music / "bed.m4a")
    ctx = make_ctx(media_config(footage_library=lib, music_dir=music))
    script = {
        "title": "Octopus facts",
        "hook": "Octopuses are stranger than you think.",
        "body": ["Three hearts pump their blood.", "That blood is blue, thanks to copper."],
        "call_to_action": "Follow the ocean for more.",
    }
    out = await invoke_json(
        generate_video,
        {"script": script, "narrate": True, "target_duration_s": 10, **SMALL},
        ctx,
    )
    assert out.success, out.error
    path = check_file(out, settings)
    assert out.voice is not None and out.voice.engine == "piper"
    assert abs(out.duration - 10) <= 1.0  # the target, within 10 %
    assert out.caption_style == "karaoke" and out.caption_timing == "engine"
    assert out.music == "bed.m4a"
    assert out.visuals >= 4 and out.cuts >= 3  # one visual per sentence, several cuts
    by_id = {a.id: a for a in out.assets}
    assert {"octopus-ocean-deep.mp4", "hearts-blood-pump.mp4", "copper-blue.jpg"} <= set(by_id)
    assert by_id["octopus-ocean-deep.mp4"].licence == "CC0-1.0"
    assert by_id["copper-blue.jpg"].licence == "unknown"  # its sidecar gives none
    measured = loudnorm_measure(path)
    assert abs(float(measured["input_i"]) + 14) <= 1 and float(measured["input_tp"]) <= -1
    assert out.loudness is not None and out.loudness.true_peak_dbtp <= -1
    # The picture changes from sentence to sentence.
    a, b = frame_at(path, 0.5), frame_at(path, out.duration - 1.0)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 10
    # ... and passes the quality gate.
    gate = await invoke_json(
        check_video,
        {
            "path": out.path,
            "width": out.width,
            "height": out.height,
            "platforms": ["youtube", "tiktok", "twitter"],
            "caption_boxes": [b.model_dump() for b in out.caption_boxes],
        },
        ctx,
    )
    assert gate.success, gate.error


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
