"""Least privilege: who may do what on Kafka (`chimera.access.kafka`) and PostgreSQL
(`core.grants`, applied by the migrations).

The principals are the processes: one per agent, and the operator for the ops tools. The
people's console (`chimera console`) is the operator's tools in a browser (review decisions,
dead letters, replay plans, alerts, users), so it runs as the operator principal; who of the
people may do what there is the users' roles (`chimera.auth`). Credentials are mapped in one
place, `core.credentials`.
"""

from __future__ import annotations

import agents
from core.credentials import OPERATOR

#: Every principal, agents first.
PRINCIPALS: tuple[str, ...] = (*agents.AGENTS, OPERATOR)
