"""`chimera dlq` on the real broker and database: poison reaches the dead-letter topic through
a real agent; list, show, redrive and purge; nothing is lost across partial handling."""

from __future__ import annotations

import json

import asyncpg
from aiokafka import TopicPartition

from agents.orchestrator.app import build as build_orchestrator
from agents.orchestrator.policy import Policy
from agents.research.app import build as build_research
from agents.research.handlers import ResearchSettings
from agents.runtime.topics import ensure_topics
from chimera.ops import dlq, offsets
from core.settings import Settings
from events import Topics, TrendDiscovered, encode
from events.topics import STREAMS
from events.wire import DLQ_HEADER_PREFIX as DLQ_HEADER
from tests.chimera.ops.opsupport import chimera, flat, make_topics, send
from tests.support import produce, read_topic, trend, wait_for


def dlq_headers(
    original_topic: str,
    offset: int,
    code: str = "HANDLER_ERROR",
) -> list[tuple[str, bytes]]:
    """Headers as agents.runtime.consumer writes them (plus an original one)."""
    return [
        ("source", b"test-producer"),
        (DLQ_HEADER + "original.topic", original_topic.encode()),
        (DLQ_HEADER + "original.partition", b"0"),
        (DLQ_HEADER + "original.offset", str(offset).encode()),
        (DLQ_HEADER + "consumer.group", b"g"),
        (DLQ_HEADER + "consumer", b"orchestrator.trends"),
        (DLQ_HEADER + "error.code", code.encode()),
        (DLQ_HEADER + "error.category", b"unknown"),
        (DLQ_HEADER + "exception.class", b"RuntimeError"),
        (DLQ_HEADER + "exception.message", f"RuntimeError: boom {offset}".encode()),
        (DLQ_HEADER + "timestamp", b"2026-11-25T17:00:00+00:00"),
    ]


async def test_poison_is_listed_shown_and_a_fixed_record_redriven_through_the_orchestrator(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topics = Topics(settings.topic_prefix)
    dead_topic = Topics.dlq(topics.trends)
    good = TrendDiscovered.create(trend(1), producer="test")
    wrong_schema = json.loads(encode(TrendDiscovered.create(trend(2), producer="test")))
    wrong_schema["payload"]["velocity"] = "fast"
    poison = [
        (b"k1", b"{not json"),
        (b"k1", json.dumps(wrong_schema).encode()),
        (b"k1", b"\xff\xfe binary"),
    ]
    # Every topic of the prefix, as the operator tools make them (`chimera inject`): an agent
    # may create only its own.
    await ensure_topics(settings)
    runtime = build_orchestrator(settings, Policy(platforms=["local"]))
    async with runtime.running():
        await produce(
            settings,
            topics.trends,
            [*poison, (b"k1", encode(good))],
            headers=[("source", b"test-producer")],
        )
        await read_topic(settings, dead_topic, expect=3, timeout=15)

        # list: the three, with why, under every dead-letter topic of the prefix.
        found = await dlq.list_dead_letters(settings)
        assert set(found) == {Topics.dlq(t) for t in topics.all(with_dlq=False)}
        letters = found[dead_topic]
        assert [d.value for d in letters] == [v for _, v in poison]
        assert [d.error_code for d in letters] == [
            "INVALID_JSON",
            "SCHEMA_VIOLATION",
            "INVALID_JSON",
        ]
        first = letters[0].summary()
        assert first["key"] == "k1" and first["exception_class"] == "events.codec.DecodeError"
        assert first["original_topic"] == topics.trends and first["original_offset"] == 0
        assert first["exception_message"] and first["dead_lettered_at"]
        assert sum(len(v) for v in found.values()) == 3

        result = await chimera(settings, "dlq", "list")
        assert result.exit_code == 0, result.output
        assert f"{dead_topic}: 3 unhandled" in result.output
        assert "INVALID_JSON" in result.output and "SCHEMA_VIOLATION" in result.output
        assert f"{topics.trends}/{letters[1].summary()['original_partition']}/1" in result.output
        assert result.output.splitlines()[-1] == (
            f"3 unhandled refused record(s) (3 dead letter(s)) in 1 of {len(STREAMS)} "
            "dead-letter topic(s)"
        )
        listing = result.output

        # show: pretty JSON when the payload is JSON, the bytes' repr otherwise.
        p = letters[0].partition
        result = await chimera(settings, "dlq", "show", "trends", str(p), str(letters[1].offset))
        assert result.exit_code == 0, result.output
        assert '"velocity": "fast"' in result.output and '\n  "payload": {' in result.output
        assert "source: test-producer" in result.output and "SCHEMA_VIOLATION" in result.output
        result = await chimera(settings, "dlq", "show", dead_topic, str(p), str(letters[2].offset))
        assert "b'\\xff\\xfe binary'" in result.output
        result = await chimera(settings, "dlq", "show", dead_topic, str(p), "99")
        assert result.exit_code == 1 and "no record at" in flat(result.output)

        # A fixed record (valid payload) in the dead-letter topic, redriven by offset.
        fixed = TrendDiscovered.create(trend(7), producer="test")
        [fixed_offset] = await send(
            settings,
            dead_topic,
            [(p, b"feed:item-7", encode(fixed), dlq_headers(topics.trends, 9), None)],
        )
        result = await chimera(
            settings, "dlq", "redrive", "trends", "--offset", f"{p}:{fixed_offset}"
        )
        assert result.exit_code == 0, result.output
        assert "redrove 1 dead letter(s)" in result.output

        async def processed() -> bool:
            return (
                await pool.fetchval("SELECT count(*) FROM workflows WHERE trend_id = 'feed:item-7'")
                == 1
            )

        await wait_for(processed, timeout=15, what="the orchestrator to take the redriven trend")
        redriven = [
            r
            for r in await read_topic(settings, topics.trends, expect=5, timeout=10)
            if r.value == encode(fixed)
        ]
        assert len(redriven) == 1
        headers = dict(redriven[0].headers)
        assert redriven[0].key == b"feed:item-7"
        assert headers["source"] == b"test-producer"
        assert headers["chimera.redriven-from"] == f"{dead_topic}/{p}/{fixed_offset}".encode()
        assert not any(k.startswith(DLQ_HEADER) for k in headers)

    # The poison is still listed, the redriven one is not (unless --all, marked).
    result = await chimera(settings, "dlq", "list")
    assert result.output == listing
    result = await chimera(settings, "dlq", "list", "trends", "--all")
    assert f"{dead_topic}: 3 unhandled, 1 handled" in result.output
    assert "redriven" in result.output
    # Handled already: a second redrive of it does nothing and says so.
    result = await chimera(
        settings, "dlq", "redrive", dead_topic, "-p", str(p), "-o", str(fixed_offset)
    )
    assert result.exit_code == 1 and "already handled" in flat(result.output)

    # purge: asks; no answer on stdin or "n" purges nothing; --yes purges one.
    target = f"{p}:{letters[0].offset}"
    result = await chimera(settings, "dlq", "purge", "trends", "--offset", target)
    assert result.exit_code == 1 and "pass --yes" in flat(result.output)
    result = await chimera(settings, "dlq", "purge", "trends", "--offset", target, stdin="n\n")
    assert result.exit_code == 1 and "nothing purged" in result.output
    assert len((await dlq.list_dead_letters(settings, "trends"))[dead_topic]) == 3
    result = await chimera(settings, "dlq", "purge", "trends", "--offset", target, "--yes")
    assert result.exit_code == 0, result.output
    assert f"purged 1 dead letter(s): {dead_topic}/{target.replace(':', '/')}" in result.output
    left = (await dlq.list_dead_letters(settings, "trends"))[dead_topic]
    assert [d.offset for d in left] == [letters[1].offset, letters[2].offset]
    # Answering "y" on stdin confirms too.
    result = await chimera(
        settings, "dlq", "purge", "trends", "--offset", f"{p}:{letters[2].offset}", stdin="y\n"
    )
    assert result.exit_code == 0 and "purged 1 dead letter(s)" in result.output, result.output
    result = await chimera(settings, "dlq", "list", "--json")
    assert [d["offset"] for d in json.loads(result.output)[dead_topic]] == [letters[1].offset]


async def test_nothing_is_lost_across_partial_redrives_and_purges(settings: Settings) -> None:
    await make_topics(settings)
    topics = Topics(settings.topic_prefix)
    dead_topic = Topics.dlq(topics.trends)
    events = [TrendDiscovered.create(trend(n), producer="test") for n in range(6)]
    codes = ["A", "B", "A", "B", "A", "B"]
    await send(
        settings,
        dead_topic,
        [
            (1, e.payload.id.encode(), encode(e), dlq_headers(topics.trends, n, codes[n]), None)
            for n, e in enumerate(events)
        ],
    )
    tp = TopicPartition(dead_topic, 1)

    async def unhandled() -> list[int]:
        found = await dlq.list_dead_letters(settings, dead_topic)
        return [d.offset for d in found[dead_topic]]

    async def floor() -> int | None:
        return (await offsets.committed_offsets(settings, dlq.handled_group(settings), [tp]))[tp]

    # A subset, out of order: the rest stays listed; the group's offset waits at the gap.
    done = await dlq.redrive(settings, "trends", dlq.Selection(records=((1, 3), (1, 1))))
    assert [(r.letter.offset, r.topic) for r in done] == [(1, topics.trends), (3, topics.trends)]
    assert await unhandled() == [0, 2, 4, 5]
    assert await floor() == 0
    # Handling offset 0 closes the run 0..1: the group moves to 2.
    await dlq.purge(settings, "trends", dlq.Selection(records=((1, 0),)))
    assert await unhandled() == [2, 4, 5]
    assert await floor() == 2
    # By error code (unhandled ones only): 2 and 4; then the run 0..4 is closed.
    done = await dlq.redrive(settings, dead_topic, dlq.Selection(error_code="A"))
    assert [r.letter.offset for r in done] == [2, 4]
    assert await unhandled() == [5]
    assert await floor() == 5
    # Every record went back exactly once, the purged one not at all.
    back = await read_topic(settings, topics.trends, expect=4, timeout=10)
    assert sorted(r.value for r in back) == sorted(encode(events[n]) for n in (1, 2, 3, 4))
    # The history survives: --all shows each with what was done.
    everything = (await dlq.list_dead_letters(settings, dead_topic, include_handled=True))[
        dead_topic
    ]
    assert [(d.offset, d.handled.action if d.handled else None) for d in everything] == [
        (0, "purged"),
        (1, "redriven"),
        (2, "redriven"),
        (3, "redriven"),
        (4, "redriven"),
        (5, None),
    ]
    assert everything[1].handled and everything[1].handled.detail.startswith(topics.trends)
    # --all: what is left; then nothing is left and the group is at the end.
    result = await chimera(settings, "dlq", "redrive", "trends", "--all")
    assert result.exit_code == 0 and "redrove 1 dead letter(s)" in result.output
    assert await unhandled() == [] and await floor() == 6
    result = await chimera(settings, "dlq", "redrive", "trends", "--all")
    assert result.exit_code == 0 and "nothing to redrive" in result.output
    # Selections are checked: one kind at a time, existing records only.
    result = await chimera(settings, "dlq", "redrive", "trends")
    assert result.exit_code == 2 and "exactly one" in flat(result.output)
    result = await chimera(settings, "dlq", "redrive", "trends", "--offset", "7")
    assert result.exit_code == 2 and "needs its partition" in flat(result.output)
    result = await chimera(settings, "dlq", "purge", "trends", "--offset", "1:40", "--yes")
    assert result.exit_code == 1 and "no record in" in flat(result.output)
    # A record whose original-topic header names another topic is not redriven anywhere.
    [odd] = await send(
        settings, dead_topic, [(0, b"k", b"{}", dlq_headers(topics.alerts, 0), None)]
    )
    result = await chimera(settings, "dlq", "redrive", "trends", "--offset", f"0:{odd}")
    assert result.exit_code == 1 and "disagrees" in flat(result.output)
    assert await unhandled() == [odd]
    # Junk in the handled log is skipped, not fatal, and marks nothing handled.
    await send(
        settings,
        dlq.handled_log(settings),
        [
            (0, b"junk", b"{", [], None),
            (0, b"a/b/c/d", b"{}", [], None),
            (0, f"{dead_topic}/0/{odd}".encode(), b"[]", [], None),
        ],
    )
    assert await unhandled() == [odd]
    result = await chimera(settings, "dlq", "list", "nosuch")
    assert result.exit_code == 1 and "no dead-letter topic for 'nosuch'" in flat(result.output)


async def test_a_record_two_groups_refuse_is_one_line_dead_lettered_once_and_redriven_once(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """research and orchestrator both read trends: a poison record is dead-lettered once per
    group, never again on a replay; listed as one record; redriven once, with its timestamp."""
    topics = Topics(settings.topic_prefix)
    dead_topic = Topics.dlq(topics.trends)
    await make_topics(settings)
    good = TrendDiscovered.create(trend(1), producer="test")
    long_ago = 1767225600000  # 2026-01-01T00:00:00Z
    await send(
        settings,
        topics.trends,
        [
            (0, b"k-poison", b"{not json", [("source", b"\xff\xfe")], long_ago),
            (0, b"k-good", encode(good), [], None),
        ],
    )

    def agents() -> list:  # type: ignore[type-arg]
        return [
            build_research(settings, ResearchSettings(interval_seconds=0)),
            build_orchestrator(settings, Policy(platforms=["local"])),
        ]

    first = agents()
    async with first[0].running(), first[1].running():
        dead = await read_topic(settings, dead_topic, expect=2, timeout=20)
    groups = sorted(dict(r.headers)[DLQ_HEADER + "consumer.group"].decode() for r in dead)
    assert groups == sorted(r.group for r in first)
    assert {r.value for r in dead} == {b"{not json"}
    assert all(r.headers[0] == ("source", b"\xff\xfe") for r in dead)
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 2

    result = await chimera(settings, "dlq", "list", "trends")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "1 unhandled refused record(s) (2 dead letter(s)) in 1 of 1 dead-letter topic(s)"
    )
    assert ",".join(groups) in result.output

    # A replay of both groups reads the poison again: it is not dead-lettered again.
    for runtime in first:
        await offsets.reset_to_earliest(settings, runtime.group, [topics.trends])
    again = agents()
    async with again[0].running(), again[1].running():

        async def reread() -> bool:
            return all(sum(p.stats.dead_letters_repeated for p in r.processors) == 1 for r in again)

        await wait_for(reread, timeout=30, what="both groups to read the poison again")
    assert len(await read_topic(settings, dead_topic, expect=2)) == 2
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 2

    # Redriven once for the two groups, with its own timestamp; both dead letters handled.
    done = await dlq.redrive(settings, "trends", dlq.Selection(all_=True))
    assert len(done) == 2 and len({(r.topic, r.partition, r.offset) for r in done}) == 1
    back = [
        r for r in await read_topic(settings, topics.trends, expect=3) if r.value == b"{not json"
    ]
    assert len(back) == 2  # the original and its one redriven copy
    redriven = max(back, key=lambda r: r.offset)
    assert redriven.timestamp == long_ago
    assert redriven.key == b"k-poison"
    assert redriven.headers[0] == ("source", b"\xff\xfe")
    assert (await dlq.list_poison_records(settings, "trends"))[dead_topic] == []
