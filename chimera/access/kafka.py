"""The Kafka ACL matrix, derived from what the agents declare, and the ONE function that puts it
on a cluster (`apply`, as a super user).

Per agent (principal `User:chimera-<agent>`), for a topic prefix P:

* READ its input topics (its `Subscription`s), and its own consumer group `P.<agent>`;
* WRITE the topics of the events it declares with `@emits` (each on its stream's topic), the
  dead-letter topics of its inputs (`<topic>.dlq`), and the audit and alerts topics;
* CREATE those same topics (an agent creates the topics it uses when it starts, nothing else).

The operator tools (`User:chimera-operator`: inject, replay, dead letters, status, offsets)
hold every topic operation on topics prefixed `P.` and READ/DESCRIBE/DELETE on groups prefixed
`P.`, plus DESCRIBE on the cluster (listing groups). Nothing else is allowed: the broker runs
with `allow.everyone.if.no.acl.found=false`.

The matrix is computed from the built agents every time, so it cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import agents
from agents.runtime.specification import Declared, emitted_event_types
from core.credentials import OPERATOR, kafka_user
from core.errors import StackError
from core.settings import Settings
from events import Topics

Resource = Literal["topic", "group", "cluster"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal[
    "read", "write", "create", "delete", "describe", "describe_configs", "alter_configs"
]

CLUSTER = "kafka-cluster"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW entry: principal may `operation` on `resource` `name` (literal or prefixed)."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation


@dataclass(frozen=True)
class AgentAccess:
    """What one agent touches on Kafka, from its declarations."""

    agent: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    group: str | None


def agent_access(agent: Declared) -> AgentAccess:
    """Read: its subscriptions' topics; write: its emitted events' topics, its inputs'
    dead-letter topics, audit and alerts; group: its own (when it consumes)."""
    topics = Topics(agent.settings.topic_prefix)
    reads = tuple(dict.fromkeys(s.topic for s in agent.subscriptions))
    writes = [topics.stream_of(t) for t in emitted_event_types(agent)]
    writes += [Topics.dlq(t) for t in reads]
    writes += [topics.audit, topics.alerts]
    return AgentAccess(
        agent.name,
        reads,
        tuple(sorted(set(writes))),
        agent.group if agent.subscriptions else None,
    )


def agents_access(settings: Settings) -> list[AgentAccess]:
    """Every registered agent's access under `settings.topic_prefix` (agents are built as
    objects only: nothing connects)."""
    return [agent_access(agents.build(name, settings)) for name in agents.AGENTS]


def matrix(settings: Settings) -> list[Acl]:
    """Every ACL of the deployment under `settings.topic_prefix`, sorted."""
    acls: set[Acl] = set()
    for access in agents_access(settings):
        user = f"User:{kafka_user(access.agent)}"
        for topic in access.reads:
            acls.add(Acl(user, "topic", topic, "literal", "read"))
        for topic in access.writes:
            acls.add(Acl(user, "topic", topic, "literal", "write"))
        for topic in {*access.reads, *access.writes}:
            acls.add(Acl(user, "topic", topic, "literal", "create"))
        if access.group is not None:
            acls.add(Acl(user, "group", access.group, "literal", "read"))
    operator = f"User:{kafka_user(OPERATOR)}"
    prefix = f"{settings.topic_prefix}."
    for op in ("read", "write", "create", "delete", "describe", "describe_configs"):
        acls.add(Acl(operator, "topic", prefix, "prefixed", op))  # type: ignore[arg-type]
    for op in ("read", "describe", "delete"):
        acls.add(Acl(operator, "group", prefix, "prefixed", op))  # type: ignore[arg-type]
    acls.add(Acl(operator, "cluster", CLUSTER, "literal", "describe"))
    return sorted(acls)


def render(acls: Iterable[Acl]) -> str:
    """The matrix as a table (`chimera access kafka`)."""
    rows = [("principal", "operation", "resource", "pattern", "name")]
    rows += [(a.principal, a.operation.upper(), a.resource, a.pattern, a.name) for a in acls]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


# --- The cluster (confluent-kafka's admin client: aiokafka's has no ACL or SCRAM calls) -------
def _binding(acl: Acl, *, as_filter: bool = False) -> Any:
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return (AclBindingFilter if as_filter else AclBinding)(
        ResourceType[{"topic": "TOPIC", "group": "GROUP", "cluster": "BROKER"}[acl.resource]],
        acl.name,
        ResourcePatternType[acl.pattern.upper()],
        acl.principal,
        "*",
        AclOperation[acl.operation.upper()],
        AclPermissionType.ALLOW,
    )


def _admin(settings: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    from core.kafka import confluent_config

    return AdminClient({**confluent_config(settings), "log_level": 3})


def _wait(futures: dict[Any, Any], what: str, timeout: float) -> None:
    for key, future in futures.items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:
            raise StackError(f"{what} failed for {key}: {exc}") from exc


def apply(admin_settings: Settings, acls: Iterable[Acl], timeout: float = 30.0) -> int:
    """Create `acls` on the cluster, as the super user `admin_settings` authenticates as.
    Idempotent (an existing binding is kept). Returns how many were sent. Blocking."""
    bindings = [_binding(a) for a in acls]
    if not bindings:
        return 0
    admin = _admin(admin_settings)  # kept alive until every future is done
    _wait(admin.create_acls(bindings), "creating ACLs", timeout)
    return len(bindings)


def revoke(admin_settings: Settings, acls: Iterable[Acl], timeout: float = 30.0) -> None:
    """Delete exactly `acls` (a test's per-prefix bindings, say). Blocking."""
    filters = [_binding(a, as_filter=True) for a in acls]
    if filters:
        admin = _admin(admin_settings)
        _wait(admin.delete_acls(filters), "deleting ACLs", timeout)


def ensure_users(
    admin_settings: Settings, passwords: dict[str, str], timeout: float = 30.0
) -> list[str]:
    """Create the SCRAM-SHA-512 users of `passwords` (user -> password) that do not exist yet
    (those added after the broker was formatted). Returns the users it created. Blocking."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = _admin(admin_settings)
    existing: set[str] = set()
    for user, future in admin.describe_user_scram_credentials(list(passwords)).items():
        try:
            if future.result(timeout=timeout):
                existing.add(user)
        except Exception:  # noqa: S112 - RESOURCE_NOT_FOUND: no credential for that user yet
            continue
    missing = [u for u in passwords if u not in existing]
    if missing:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
        _wait(
            admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(u, info, passwords[u].encode()) for u in missing]
            ),
            "creating SCRAM users",
            timeout,
        )
    return missing
