"""Every agent SIGKILLed while it works (generate mid-render, publish mid-publish, the others
mid-batch), restarted, while trends and a poison corpus from clients that are not Chimera
(Kafka's console producer, raw aiokafka with hand-built headers) arrive. The run settles:
each trend exactly one outcome, nothing published twice, no audit row lost or doubled, no
debris; each poison record in its dead-letter topic byte for byte, once per refusing group.
Then every group is replayed from the start with Kafka's own kafka-consumer-groups: no
table, no published file and no dead-letter topic changes."""

from __future__ import annotations

import asyncpg
import pytest

from bench.chaos import AGENTS, World, kills_scenario, replay_scenario
from tests.chaos.conftest import report

pytestmark = pytest.mark.chaos
TRENDS = 10


async def test_agents_killed_while_they_work_amid_poison_settle_and_a_replay_changes_nothing(
    world: World, pool: asyncpg.Pool, seed: int
) -> None:
    result = await kills_scenario(
        world, pool, trends=TRENDS, kills_per_agent=1, seed=seed, rate=3.0, poison_rounds=1
    )
    report("kills", seed, result)
    inputs = TRENDS + 5  # the corpus's valid trends go all the way too
    assert result["kills"] == {agent: 1 for agent in AGENTS}
    assert result["restarts"] == result["kills"]
    assert result["outcomes"] == {"completed": inputs}
    assert result["published"] == inputs and result["lost"] == 0 and result["duplicates"] == 0
    # On trends (two groups): not JSON, wrong shape, unknown type, unsupported version, empty,
    # null, null header, another topic's event, null key and value, invalid UTF-8, binary
    # header, non-UTF-8 header name. On audit (one group): not JSON, a trend.
    assert result["poison_records"] == 14 and result["dead_letters"] == 12 * 2 + 2
    # A render takes seconds: generate is certain to be caught at one.
    assert result["killed_while_working"]["generate"] == 1, result["moments"]

    replay = await replay_scenario(world, pool, AGENTS)
    report("replay", seed, replay)
    assert replay["changed"] == 0 and replay["files_checked"] > inputs
    assert all(n and n > 0 for n in replay["records_replayed"].values()), replay
