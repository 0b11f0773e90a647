"""The deterministic template writer (the offline default) and the duration fitting both use.

Same trend in, same script out: the hook and call to action are picked by a hash of the trend
id, the body comes from the trend's own description, at most two short key sentences of the
reference transcript (chosen by how many topic words they share), and the trend's numbers.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

from events.trend import Trend
from skills.script.models import MAX_DURATION_S, WORDS_PER_SECOND, Script
from skills.text import hashtag

HOOKS = (
    "Everyone is talking about {topic}. Here is why, in under a minute.",
    "{Topic} is blowing up right now. Here is what you need to know.",
    "You have probably seen {topic} everywhere. Let's break it down fast.",
    "Why is {topic} suddenly everywhere? Here is the short version.",
)
CALLS_TO_ACTION = (
    "Follow for more {topic} in under a minute.",
    "What is your take on {topic}? Tell me in the comments.",
    "Save this, and follow to catch the next trend early.",
)
SHORT_HOOK = "{Topic}, explained fast."
SHORT_CALL_TO_ACTION = "Follow for more."
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Draft:
    """A script before it is fitted to its duration."""

    title: str
    hook: str
    body: list[str]
    call_to_action: str
    description: str = ""
    hashtags: list[str] = field(default_factory=list)


def word_count(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


def estimate_seconds(words: int) -> float:
    """Spoken duration of `words` at the narration pace, rounded up to a tenth of a second."""
    return math.ceil(words / WORDS_PER_SECOND * 10) / 10


def clip_words(text: str, limit: int) -> str:
    words = text.split()
    if len(words) <= limit:
        return " ".join(words)
    return " ".join(words[: max(limit, 1)]).rstrip(",;:") + "…"


def sentences(text: str | None) -> list[str]:
    flat = " ".join((text or "").split())
    return [s.strip() for s in SENTENCE_END.split(flat) if s.strip()]


def normalise_hashtags(candidates: list[str], limit: int = 5) -> list[str]:
    """`#CamelCase` tags, de-duplicated ignoring case, at most `limit`."""
    out: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        tag = hashtag(candidate)
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
        if len(out) == limit:
            break
    return out


def fit(draft: Draft, target_s: int) -> Script:
    """The draft as a `Script` whose spoken words fit `target_s` (never over 60 s)."""
    target_s = max(1, min(target_s, MAX_DURATION_S))
    budget = int(target_s * WORDS_PER_SECOND)
    hook = clip_words(draft.hook, max(6, budget // 4))
    cta = clip_words(draft.call_to_action, max(5, budget // 5))
    body = [" ".join(line.split()) for line in draft.body if line.strip()]
    while len(body) > 1 and word_count(hook, *body, cta) > budget:
        body.pop()
    if word_count(hook, *body, cta) > budget:
        body = [clip_words(body[0], max(budget - word_count(hook, cta), 1))]
    words = word_count(hook, *body, cta)
    while words > budget and len(hook.split()) > 3:  # only with absurdly short targets
        hook = clip_words(hook, len(hook.split()) - 1)
        words = word_count(hook, *body, cta)
    title = draft.title.strip()
    if len(title) > 100:
        title = title[:99].rstrip() + "…"
    return Script(
        title=title,
        hook=hook,
        body=body,
        call_to_action=cta,
        description=draft.description.strip()[:5000],
        hashtags=draft.hashtags[:10],
        target_duration_s=target_s,
        estimated_duration_s=min(estimate_seconds(words), float(target_s)),
        word_count=words,
    )


def _pick(options: tuple[str, ...], key: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def key_points(transcript: str | None, topic: str, limit: int = 2) -> list[str]:
    """At most `limit` short transcript sentences sharing the most words with the topic."""
    found = sentences(transcript)
    if not found:
        return []
    topic_words = {w for w in re.findall(r"\w+", topic.lower()) if len(w) > 3}
    scored = []
    for index, sentence in enumerate(found):
        words = sentence.split()
        if len(words) < 4:
            continue
        overlap = len(topic_words & {w.lower() for w in re.findall(r"\w+", sentence)})
        scored.append((-overlap, index, clip_words(sentence, 20)))
    chosen = sorted(scored)[:limit]
    return [text for _, _, text in sorted(chosen, key=lambda item: item[1])]


def numbers_line(trend: Trend) -> str | None:
    metrics = trend.engagement_metrics
    if metrics.views <= 0:
        return None
    noun = "posts in the last day" if trend.platform == "twitter" else "views so far"
    line = f"It has {metrics.views:,} {noun}"
    if trend.velocity > 0:
        line += f", and it is gaining about {trend.velocity:,.0f} an hour"
    line += "."
    if metrics.engagement_rate >= 0.01 and trend.platform != "twitter":
        line += f" About {metrics.engagement_rate:.0%} of viewers liked, commented or shared."
    return line


def write(trend: Trend, transcript: str | None, target_s: int) -> Script:
    """The template script for `trend`."""
    topic = " ".join(trend.topic.split())
    capitalised = topic[:1].upper() + topic[1:]
    hook = _pick(HOOKS, trend.id, "hook").format(topic=topic, Topic=capitalised)
    cta = _pick(CALLS_TO_ACTION, trend.id, "cta").format(topic=topic)
    if word_count(hook, cta) > 0.4 * target_s * WORDS_PER_SECOND:  # leave room for the body
        hook, cta = SHORT_HOOK.format(Topic=capitalised), SHORT_CALL_TO_ACTION
    described = sentences(trend.description)[:2]
    body = [clip_words(s, 25) for s in described]
    body += key_points(transcript, f"{topic} {trend.title}")
    stats = numbers_line(trend)
    if stats:
        body.append(stats)
    if not body:
        body = [f"Here is the short version: {trend.title}."]
    tags = normalise_hashtags([topic, *trend.tags, "trending"])
    summary = described[0] if described else ""
    description = "\n\n".join(
        p for p in (trend.title, summary, f"Source: {trend.url}", " ".join(tags)) if p
    )
    return fit(
        Draft(
            title=trend.title,
            hook=hook,
            body=body,
            call_to_action=cta,
            description=description,
            hashtags=tags,
        ),
        target_s,
    )
