"""Which instances a bulk action acts on: :class:`Selection`.

A selection names instances by what an operator knows about them: the workflow and
version, the status, the state label, the step they are at (or parked or retrying at), a
dependency (the instances at a step that calls it), when they started or entered their
state, and a piece of their error. Every field given must hold. An empty selection would
mean every instance: it is refused unless ``all=True`` says so. The store compiles the
resolved selection to one query (``store/_bulk.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from daytwo._errors import InvalidInput
from daytwo.engine import Registry
from daytwo.store import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    InstanceQuery,
    Store,
    recent_registrations,
)

__all__ = ["Selection", "steps_calling"]

STATUSES = TERMINAL_STATUSES | ACTIVE_STATUSES
Moment = datetime | float | int | None


@dataclass(frozen=True)
class Selection:
    """Instances to act on in bulk; every field given must hold.

    ``status`` is one status or several; ``step`` matches the state label of an instance
    executing it and the wait of one retrying, parked or paused at it; ``dependency``
    selects instances at any step that calls it (as the App's code, or the workers'
    registrations, declare it); the times are datetimes or epoch seconds (``*_before``
    exclusive, ``*_after`` inclusive); ``error`` is a substring, in any case, of the
    instance's error or of its pending step's last failed attempt. ``all=True`` allows a
    selection with no field (every instance).
    """

    workflow: str | None = None
    version: str | None = None
    status: str | tuple[str, ...] | None = None
    state: str | None = None
    step: str | None = None
    dependency: str | None = None
    started_before: Moment = None
    started_after: Moment = None
    entered_before: Moment = None
    entered_after: Moment = None
    error: str | None = None
    all: bool = False

    def __post_init__(self) -> None:
        for name in ("workflow", "version", "state", "step", "dependency", "error"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidInput(f"selection {name} must be a non-empty string, not {value!r}")
        statuses = self.statuses
        unknown = sorted(set(statuses) - STATUSES)
        if unknown:
            raise InvalidInput(
                f"unknown status {unknown[0]!r} in the selection; use one of "
                + ", ".join(sorted(STATUSES))
            )
        if isinstance(self.status, list):
            object.__setattr__(self, "status", tuple(self.status))
        for name in ("started_before", "started_after", "entered_before", "entered_after"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, datetime | float | int)
            ):
                raise InvalidInput(
                    f"selection {name} must be a datetime or epoch seconds, not {value!r}"
                )
        if self.empty and not self.all:
            raise InvalidInput(
                "an empty selection would select every instance; give at least one of "
                "--workflow, --status, --state, --step, --dependency, the times or --error "
                "(or all=True / --all to mean every instance)"
            )

    @property
    def statuses(self) -> tuple[str, ...]:
        """The statuses asked for, upper case."""
        if self.status is None:
            return ()
        given: Iterable[Any] = (self.status,) if isinstance(self.status, str) else self.status
        names = []
        for status in given:
            if not isinstance(status, str):
                raise InvalidInput(f"a selection status is a name such as FAILED, not {status!r}")
            names.append(status.upper())
        return tuple(names)

    @property
    def empty(self) -> bool:
        """Whether no field is given (it would select every instance)."""
        return all(getattr(self, f.name) is None for f in fields(self) if f.name != "all")

    def to_dict(self) -> dict[str, Any]:
        """The fields given, JSON-ready (times as epoch seconds)."""
        found: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "status" and value is not None:
                value = list(self.statuses)
            elif isinstance(value, datetime):
                value = value.timestamp()
            if value is not None and value is not False:
                found[field.name] = value
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        """The selection :meth:`to_dict` wrote."""
        values = dict(data)
        if isinstance(values.get("status"), list):
            values["status"] = tuple(values["status"])
        return cls(**values)

    def query(self, store: Store, registry: Registry | None) -> InstanceQuery:
        """The store's query: names resolved (a dependency to the steps that call it)."""
        steps: tuple[str, ...] | None = None
        if self.step is not None:
            steps = (self.step,)
        if self.dependency is not None:
            calling = steps_calling(self.dependency, store, registry)
            steps = tuple(sorted(calling if steps is None else set(steps) & calling))
        return InstanceQuery(
            workflow=self.workflow,
            version=self.version,
            statuses=self.statuses,
            state=self.state,
            steps=steps,
            created_before=_seconds(self.started_before),
            created_after=_seconds(self.started_after),
            entered_before=_seconds(self.entered_before),
            entered_after=_seconds(self.entered_after),
            error=self.error,
        )


def steps_calling(dependency: str, store: Store, registry: Registry | None) -> set[str]:
    """The steps that call ``dependency``, by the App's code and the workers'
    registrations; a dependency none of them calls is refused (a misspelt name would
    select nothing, silently)."""
    known: dict[str, set[str]] = {}
    if registry is not None:
        for name, step in registry.steps.items():
            if step.dependency is not None:
                known.setdefault(step.dependency, set()).add(name)
    for registration in recent_registrations(store):
        for name, called in registration.steps.items():
            if called is not None:
                known.setdefault(called, set()).add(name)
    if dependency not in known:
        listing = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"no step calls dependency {dependency!r}; dependencies the code declares: {listing}"
        )
    return known[dependency]


def _seconds(value: Moment) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)
