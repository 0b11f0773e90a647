"""The template writer: deterministic, complete, and never longer than its target duration."""

from __future__ import annotations

import math
import re

import pytest

from core.errors import ErrorCategory
from events.trend import EngagementMetrics
from skills.base import REGISTRY, invoke_json
from skills.script import Script, write_script
from skills.script.models import WORDS_PER_SECOND
from skills.script.template import key_points, write

LONG_TRANSCRIPT = " ".join(
    f"Sentence number {i} talks about synthwave covers and why holiday songs work so well "
    f"with analog synthesizers and gated drums in a short format."
    for i in range(200)
)


def _spoken_words(script: Script) -> int:
    return sum(len(line.split()) for line in script.lines)


async def test_template_script_is_complete_and_deterministic(skit, script_ctx) -> None:
    trend = skit.make_trend()
    first = await invoke_json(write_script, {"trend": trend, "target_duration_s": 45}, script_ctx())
    again = await invoke_json(write_script, {"trend": trend, "target_duration_s": 45}, script_ctx())
    assert first.success and first.writer == "template" and first.fallback_reason is None
    assert first.script == again.script  # same trend, same script
    script = first.script
    assert script is not None and first.trend_id == "feed:synthwave"
    assert script.title == "Synthwave covers of holiday songs"
    assert "synthwave covers" in script.hook.lower()
    assert script.body[0] == "Musicians are remaking seasonal classics with 80s synthesizers."
    assert any("143,200 views" in line and "5,400 an hour" in line for line in script.body)
    assert script.call_to_action
    assert script.hashtags[:3] == ["#SynthwaveCovers", "#music", "#RetroWave"]
    assert all(re.fullmatch(r"#\w+", tag) for tag in script.hashtags)
    assert "Source: https://example.com/trends/synthwave" in script.description
    assert script.word_count == _spoken_words(script)
    assert script.estimated_duration_s <= script.target_duration_s == 45


@pytest.mark.parametrize("target", [10, 15, 30, 45, 60])
def test_duration_never_exceeds_the_target(skit, target: int) -> None:
    trend = skit.make_trend(
        description=" ".join(
            ["A very long description sentence that goes on and on about the trend."] * 40
        ),
        topic="an unusually long topic name for a trend",
    )
    script = write(trend, LONG_TRANSCRIPT, target)
    assert script.target_duration_s == target
    assert script.word_count == _spoken_words(script)
    assert script.word_count <= target * WORDS_PER_SECOND
    assert script.estimated_duration_s == math.ceil(script.word_count / WORDS_PER_SECOND * 10) / 10
    assert script.estimated_duration_s <= target <= 60
    assert script.body and script.hook and script.call_to_action


def test_key_points_prefer_sentences_about_the_topic() -> None:
    transcript = (
        "Hi everyone and welcome back. Today the weather is nice outside here. "
        "Synthwave covers use gated drums and warm analog pads on every track. "
        "Subscribe. The holiday synthwave covers trend started on a small channel "
        "with one viral clip that everybody then copied and remixed and shared "
        "again and again across every platform."
    )
    points = key_points(transcript, "synthwave covers")
    assert len(points) == 2
    assert points[0].startswith("Synthwave covers use gated drums")
    assert points[1].startswith("The holiday synthwave covers trend")
    assert len(points[1].split()) <= 21 and points[1].endswith("…")


def test_x_trends_speak_of_posts_not_views(skit) -> None:
    trend = skit.make_trend(
        id="twitter:1:europe",
        platform="twitter",
        topic="Europe",
        title="Europe",
        description="Trending on X.",
        velocity=0.0,
        engagement_metrics=EngagementMetrics.of(views=232408),
        tags=[],
    )
    script = write(trend, None, 30)
    assert any("232,408 posts in the last day" in line for line in script.body)
    assert not any("viewers" in line for line in script.body)


def test_long_titles_are_clipped_for_platforms(skit) -> None:
    script = write(skit.make_trend(title="T" * 300), None, 30)
    assert len(script.title) == 100 and script.title.endswith("…")


async def test_trend_from_json_and_invalid_input(skit, script_ctx) -> None:
    as_json = skit.make_trend().model_dump(mode="json")  # timestamp is a string here
    ok = await invoke_json(
        write_script, {"trend": as_json, "transcript": "Short one."}, script_ctx()
    )
    assert ok.success and ok.script is not None
    for bad in (
        {"trend": as_json, "target_duration_s": 61},
        {"trend": as_json, "target_duration_s": 5},
        {"trend": {**as_json, "platform": "myspace"}},
        {"trend": as_json, "writer": "poet"},
    ):
        out = await invoke_json(write_script, bad, script_ctx())
        assert out.error is not None and out.error.category is ErrorCategory.VALIDATION


def test_the_skill_is_registered() -> None:
    assert REGISTRY["skill_write_script"] is write_script
    schema = write_script.schemas()
    assert schema["input_schema"]["properties"]["target_duration_s"]["maximum"] == 60
