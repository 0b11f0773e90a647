"""The orchestrator's policy: pure decisions, no I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticValidationError

from agents.orchestrator.policy import Policy, decide
from tests.support import trend


def test_velocity_threshold_and_tag_lists() -> None:
    policy = Policy(min_velocity=150, allow_tags=["tech", "music"], deny_tags=["politics"])
    assert not decide(policy, trend(1), topic_recently_covered=False, used_today={}).accept
    assert decide(policy, trend(2), topic_recently_covered=False, used_today={}).accept
    denied = decide(
        policy, trend(2, tags=["tech", "Politics"]), topic_recently_covered=False, used_today={}
    )
    assert not denied.accept and "politics" in denied.reason
    assert not decide(
        policy, trend(2, tags=["cooking"]), topic_recently_covered=False, used_today={}
    ).accept


def test_topic_cooldown_and_daily_budget_per_platform() -> None:
    policy = Policy(platforms=["youtube", "local"], daily_budget={"youtube": 2, "local": 5})
    assert not decide(policy, trend(1), topic_recently_covered=True, used_today={}).accept
    both = decide(policy, trend(1), topic_recently_covered=False, used_today={"youtube": 1})
    assert both.platforms == ("youtube", "local")
    local_only = decide(policy, trend(1), topic_recently_covered=False, used_today={"youtube": 2})
    assert local_only.platforms == ("local",)
    none_left = decide(
        policy, trend(1), topic_recently_covered=False, used_today={"youtube": 2, "local": 5}
    )
    assert not none_left.accept and "budget" in none_left.reason


def test_the_approval_gate_is_per_platform_with_a_default() -> None:
    policy = Policy(approval={"youtube": "required"})
    assert policy.split_by_gate(["local", "youtube", "twitter"]) == (
        ["local", "twitter"],
        ["youtube"],
    )
    strict = Policy(approval_default="required", approval={"local": "auto"})
    assert strict.split_by_gate(["local", "youtube"]) == (["local"], ["youtube"])
    assert Policy().split_by_gate(["local"]) == (["local"], [])


def test_an_unknown_platform_in_the_gate_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_POLICY_APPROVAL", '{"myspace": "required"}')
    with pytest.raises(PydanticValidationError, match="no platform myspace"):
        Policy()
