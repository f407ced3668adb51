"""Roles of API tokens, and what each may do.

Four roles, each allowed everything the one before it is: a *viewer* reads; an *operator*
also acts on instances, human tasks, pauses, schedules and breakers (the 3 a.m. work); an
*owner* also changes definitions (queue and dependency limits, breaker policies, SLOs; later
ownership, flags and deployments); an *admin* also manages tokens. The order is the
enum's: ``Role.OPERATOR.allows(Role.VIEWER)``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """What a token may do (each role includes the ones before it)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    OWNER = "owner"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def allows(self, needed: Role) -> bool:
        """True if a token of this role may do what needs ``needed``."""
        return self.rank >= needed.rank


_ORDER = list(Role)
