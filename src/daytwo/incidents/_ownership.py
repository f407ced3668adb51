"""The ownership registry: who owns each workflow and dependency, who is R, A, C and I at
each severity, and how they are reached (``ownership.yaml``, see ``_ownership_model.py``
for its shape and checks).

An :class:`Ownership` is one validated file. Its :meth:`~Ownership.spec` (plain JSON, with
``${ENV}`` references as written) is what the store keeps per version
(``_registry.py``); :meth:`Ownership.from_spec` reads a stored version back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from daytwo._errors import DaytwoError
from daytwo._located_yaml import load_located, read_definitions
from daytwo.incidents._contacts import Channel, Recipient
from daytwo.incidents._ownership_model import (
    PAGERDUTY_EVENTS_URL,
    ChannelSpec,
    EntrySpec,
    OwnershipSpec,
    validate_spec,
)
from daytwo.incidents._severity import SeverityMatrix, SeverityRule
from daytwo.incidents._vocabulary import Criticality, RaciRole, Severity

__all__ = ["NoOwnerEntry", "Ownership", "load_ownership", "parse_ownership"]

#: Who is notified, strongest role first (C is consulted by the responders, not paged).
_NOTIFIED = (RaciRole.RESPONSIBLE, RaciRole.ACCOUNTABLE, RaciRole.INFORMED)


class NoOwnerEntry(DaytwoError, LookupError):
    """No workflow or dependency of that name in the registry (HTTP 404, exit "not found")."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = sorted(set(known))
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        hint = f"entries: {shown}" if names else "it has no entries"
        super().__init__(f"no workflow or dependency {name!r} in the ownership registry ({hint})")
        self.name = name


def load_ownership(path: str | Path) -> Ownership:
    """Read and validate an ``ownership.yaml`` file."""
    return parse_ownership(*read_definitions(path, "ownership"))


def parse_ownership(text: str, file: str = "<string>") -> Ownership:
    """Validate the ownership definition in YAML ``text``; ``file`` names it in errors."""
    data, lines = load_located(text, file)
    return Ownership(validate_spec(data, lines, file))


def _channel(spec: ChannelSpec) -> Channel:
    address = spec.address
    if address is None:  # only PagerDuty may leave it out (checked)
        address = PAGERDUTY_EVENTS_URL
    return Channel(spec.kind, address, spec.routing_key)


class Ownership:
    """One version of the registry."""

    def __init__(self, spec: OwnershipSpec) -> None:
        self.model = spec
        self.matrix = SeverityMatrix(spec.severity.matrix)
        self.rules: list[SeverityRule] = list(spec.severity.rules)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Ownership:
        """A stored version (:meth:`spec`) back."""
        return cls(OwnershipSpec.model_validate(spec))

    # -- the stored form ------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """The definition as plain JSON, defaults filled in, ``${ENV}`` kept as written."""
        return self.model.model_dump(mode="json", by_alias=True)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: the same definition, however written, has one."""
        canonical = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    # -- lookups --------------------------------------------------------------------------

    @property
    def workflows(self) -> dict[str, EntrySpec]:
        return self.model.workflows

    @property
    def dependencies(self) -> dict[str, EntrySpec]:
        return self.model.dependencies

    def entry_for(
        self, workflow: str | None = None, dependency: str | None = None
    ) -> EntrySpec | None:
        """The entry of ``dependency``, else of ``workflow`` (None: neither has one).

        The dependency goes first: an alert that names one (an opened circuit, a retry
        rate against it) is about that dependency, whichever workflow called it.
        """
        if dependency is not None and dependency in self.model.dependencies:
            return self.model.dependencies[dependency]
        if workflow is not None:
            return self.model.workflows.get(workflow)
        return None

    def entry_named(self, name: str) -> tuple[str, EntrySpec]:
        """``("workflow" | "dependency", entry)`` for ``name``; a workflow goes first."""
        if name in self.model.workflows:
            return "workflow", self.model.workflows[name]
        if name in self.model.dependencies:
            return "dependency", self.model.dependencies[name]
        raise NoOwnerEntry(name, [*self.model.workflows, *self.model.dependencies])

    def criticality_of(
        self, workflow: str | None = None, dependency: str | None = None
    ) -> Criticality | None:
        entry = self.entry_for(workflow, dependency)
        return None if entry is None else entry.criticality

    def raci(self, entry: EntrySpec, severity: Severity) -> dict[RaciRole, list[str]]:
        """Who is R, A, C and I for ``entry`` at ``severity``: the entry's override for that
        severity, role by role, over the default (R: the IT team, A: the business owner,
        C: the vendor and the consulted, I: the informed)."""
        roles = {
            RaciRole.RESPONSIBLE: [entry.it_team] if entry.it_team else [],
            RaciRole.ACCOUNTABLE: [entry.business_owner] if entry.business_owner else [],
            RaciRole.CONSULTED: ([entry.vendor] if entry.vendor else []) + list(entry.consulted),
            RaciRole.INFORMED: list(entry.informed),
        }
        override = entry.raci.get(severity)
        if override is not None:
            given = {
                RaciRole.RESPONSIBLE: override.responsible,
                RaciRole.ACCOUNTABLE: override.accountable,
                RaciRole.CONSULTED: override.consulted,
                RaciRole.INFORMED: override.informed,
            }
            roles.update({role: list(names) for role, names in given.items() if names is not None})
        return {role: _unique(names) for role, names in roles.items()}

    def channels_of(self, name: str) -> tuple[Channel, ...]:
        """How ``name`` is reached; a team without channels of its own through its members'."""
        model = self.model
        if name in model.people:
            specs = model.people[name].channels
        elif name in model.teams:
            team = model.teams[name]
            specs = team.channels or [
                c for member in team.members for c in model.people[member].channels
            ]
        elif name in model.vendors:
            specs = model.vendors[name].channels
        else:
            specs = []
        return tuple(dict.fromkeys(_channel(spec) for spec in specs))

    def recipients(
        self, workflow: str | None, dependency: str | None, severity: Severity
    ) -> list[Recipient]:
        """Who is told of an incident at ``severity``: its R, A and I, each once with the
        strongest of its roles (R, then A, then I); the consulted are not notified."""
        entry = self.entry_for(workflow, dependency)
        if entry is None:
            return []
        raci = self.raci(entry, severity)
        found: dict[str, Recipient] = {}
        for role in _NOTIFIED:
            for name in raci[role]:
                if name not in found:
                    found[name] = Recipient(name, role, self.channels_of(name))
        return list(found.values())

    def unowned(self, workflows: Iterable[str]) -> list[str]:
        """Those of ``workflows`` with no entry, or with no business owner or IT team
        (daytwo's own workflows, ``daytwo.*``, need none)."""
        missing = set()
        for name in workflows:
            if name.startswith("daytwo."):
                continue
            entry = self.model.workflows.get(name)
            if entry is None or entry.business_owner is None or entry.it_team is None:
                missing.add(name)
        return sorted(missing)

    # -- views ----------------------------------------------------------------------------

    def view(self, name: str) -> dict[str, Any]:
        """What ``daytwo owners show NAME`` and ``GET /owners/NAME`` show: the entry, its
        vendor and its RACI at each severity (plain JSON, no channel addresses)."""
        kind, entry = self.entry_named(name)
        vendor = None
        if entry.vendor is not None:
            spec = self.model.vendors[entry.vendor]
            vendor = {"name": entry.vendor, "contact": spec.contact, "sla": spec.sla,
                      "status_url": spec.status_url}  # fmt: skip
        return {
            "name": name,
            "kind": kind,
            "criticality": str(entry.criticality),
            "business_owner": entry.business_owner,
            "it_team": entry.it_team,
            "vendor": vendor,
            "consulted": list(entry.consulted),
            "informed": list(entry.informed),
            "escalation_policy": entry.escalation_policy,
            "runbooks": list(entry.runbooks),
            "raci": {
                str(severity): {
                    str(role): names for role, names in self.raci(entry, severity).items()
                }
                for severity in Severity
            },
        }

    def summary(self) -> list[dict[str, Any]]:
        """One line per entry (``daytwo owners show``, ``GET /owners``)."""
        rows = []
        for kind, entries in (("workflow", self.workflows), ("dependency", self.dependencies)):
            for name, entry in sorted(entries.items()):
                rows.append(
                    {"name": name, "kind": kind, "criticality": str(entry.criticality),
                     "business_owner": entry.business_owner, "it_team": entry.it_team,
                     "vendor": entry.vendor, "escalation_policy": entry.escalation_policy}
                )  # fmt: skip
        return rows


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
