"""Least privilege: who may do what on Kafka (`chimera.access.kafka`) and PostgreSQL
(`core.grants`, applied by the migrations).

The principals are the processes: one per agent, the operator tools and the console. Their
credentials are mapped in one place, `core.credentials`.
"""

from __future__ import annotations

import agents
from core.credentials import OPERATOR

#: The people's web console (issue 11): a PostgreSQL role of its own, no Kafka access.
CONSOLE = "console"

#: Every principal, agents first.
PRINCIPALS: tuple[str, ...] = (*agents.AGENTS, OPERATOR, CONSOLE)
