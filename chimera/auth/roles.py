"""Roles of people, as a ladder: each role may do what the roles below it may.

- viewer: read everything (pipeline state, content, publications, audit, dead letters);
- reviewer: approve and reject content;
- operator: redrive and purge dead letters, plan replays;
- admin: manage users.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    REVIEWER = "reviewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether someone with this role may do what `needed` may."""
        return self.rank >= needed.rank


class Action(StrEnum):
    """What people do, and the least role each needs (`REQUIRED`)."""

    READ = "read"
    REVIEW = "review"
    OPERATE = "operate"
    MANAGE_USERS = "manage_users"


REQUIRED: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.REVIEW: Role.REVIEWER,
    Action.OPERATE: Role.OPERATOR,
    Action.MANAGE_USERS: Role.ADMIN,
}


def may(role: Role, action: Action) -> bool:
    """Whether `role` may do `action`."""
    return role.allows(REQUIRED[action])
