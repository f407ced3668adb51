"""The shape of ``ownership.yaml`` (Pydantic, unknown fields refused) and the checks that
need the whole file: every name it refers to is defined, channels are usable, the
severity matrix has all nine cells. Each error names the file, line and field
(``daytwo/_located_yaml.py``); an address or key is never repeated in an error, since it
may hold a secret."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daytwo._located_yaml import DefinitionError, Located, definition_error, dotted
from daytwo.incidents._severity import SeveritySpec
from daytwo.incidents._vocabulary import ChannelKind, Criticality, Impact, Severity, Urgency

__all__ = [
    "ChannelSpec",
    "EntrySpec",
    "OwnershipSpec",
    "PersonSpec",
    "RaciSpec",
    "TeamSpec",
    "VendorSpec",
    "validate_spec",
]

#: Where a PagerDuty channel sends when it names no address.
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
_URL_KINDS = (ChannelKind.WEBHOOK, ChannelKind.SLACK, ChannelKind.PAGERDUTY)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ChannelSpec(_Strict):
    """One way to reach someone: ``{kind: slack, address: "${SLACK_HOOK}"}``."""

    kind: ChannelKind
    #: A URL (webhook, Slack, PagerDuty: default the Events API) or an e-mail address;
    #: secret parts as ``${ENV}`` references, kept unexpanded.
    address: str | None = None
    #: PagerDuty's integration key (write it as ``${ENV}``).
    routing_key: str | None = None


class PersonSpec(_Strict):
    #: The person's full name, for messages.
    name: str | None = None
    channels: list[ChannelSpec] = Field(default_factory=list)


class TeamSpec(_Strict):
    #: People of the registry; told over their own channels when the team has none.
    members: list[str] = Field(default_factory=list)
    channels: list[ChannelSpec] = Field(default_factory=list)


class VendorSpec(_Strict):
    contact: str | None = None
    #: The contractual SLA, in words ("99.99% monthly; P1 response within 1h").
    sla: str | None = None
    status_url: str | None = None
    channels: list[ChannelSpec] = Field(default_factory=list)


class RaciSpec(_Strict):
    """Who is R, A, C and I at one severity; a role left out keeps its default."""

    responsible: list[str] | None = Field(default=None, alias="R")
    accountable: list[str] | None = Field(default=None, alias="A")
    consulted: list[str] | None = Field(default=None, alias="C")
    informed: list[str] | None = Field(default=None, alias="I")


class EntrySpec(_Strict):
    """The owners of one workflow or dependency."""

    criticality: Criticality = Criticality.MEDIUM
    #: Accountable: a person or team.
    business_owner: str | None = None
    #: Responsible for running it: a team.
    it_team: str | None = None
    vendor: str | None = None
    consulted: list[str] = Field(default_factory=list)
    informed: list[str] = Field(default_factory=list)
    #: A policy's name (on-call and escalation policies are defined elsewhere).
    escalation_policy: str | None = None
    runbooks: list[str] = Field(default_factory=list)
    raci: dict[Severity, RaciSpec] = Field(default_factory=dict)


class OwnershipSpec(_Strict):
    """The whole file."""

    people: dict[str, PersonSpec] = Field(default_factory=dict)
    teams: dict[str, TeamSpec] = Field(default_factory=dict)
    vendors: dict[str, VendorSpec] = Field(default_factory=dict)
    workflows: dict[str, EntrySpec] = Field(default_factory=dict)
    dependencies: dict[str, EntrySpec] = Field(default_factory=dict)
    severity: SeveritySpec = Field(default_factory=SeveritySpec)


_Path = tuple[str | int, ...]


def validate_spec(data: object, lines: Located, file: str) -> OwnershipSpec:
    """The validated file, or the first error at its line."""
    if data is None:
        raise DefinitionError(
            file, 1, "", "the file is empty; give at least workflows: with their owners"
        )
    if not isinstance(data, dict):
        raise DefinitionError(
            file, 1, "", "expected a mapping with people:, teams:, vendors:, workflows: ..."
        )
    try:
        spec = OwnershipSpec.model_validate(data)
    except ValidationError as exc:
        raise definition_error(exc, lines, file) from None
    for path, message in _problems(spec):
        raise DefinitionError(file, _line(lines, path), dotted(path), message)
    return spec


def _line(lines: Located, path: _Path) -> int:
    # A field left out has no line: its closest written parent's.
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _problems(spec: OwnershipSpec) -> Iterator[tuple[_Path, str]]:
    """Every problem of a structurally valid file, in file order."""
    sections: dict[str, Mapping[str, object]] = {
        "people": spec.people,
        "teams": spec.teams,
        "vendors": spec.vendors,
    }
    seen: dict[str, str] = {}
    for section, names in sections.items():
        for name in names:
            if name in seen:
                yield (
                    (section, name),
                    (
                        f"{name!r} is defined under {seen[name]} and {section}; a name means one "
                        "person, team or vendor, so rename one of them"
                    ),
                )
            seen.setdefault(name, section)
    for section, holders in (("people", spec.people), ("teams", spec.teams),
                             ("vendors", spec.vendors)):  # fmt: skip
        for name, holder in holders.items():
            for index, channel in enumerate(holder.channels):
                yield from _channel_problems((section, name, "channels", index), channel)
    for name, team in spec.teams.items():
        for index, member in enumerate(team.members):
            if member not in spec.people:
                yield ("teams", name, "members", index), _unknown(member, "person", spec.people)
    everyone = {**spec.people, **spec.teams, **spec.vendors}
    for section, entries in (("workflows", spec.workflows), ("dependencies", spec.dependencies)):
        for name, entry in entries.items():
            yield from _entry_problems((section, name), entry, spec, everyone)
    yield from _severity_problems(spec.severity)


def _entry_problems(
    at: _Path, entry: EntrySpec, spec: OwnershipSpec, everyone: Mapping[str, object]
) -> Iterator[tuple[_Path, str]]:
    owners = {**spec.people, **spec.teams}
    if entry.business_owner is not None and entry.business_owner not in owners:
        yield (*at, "business_owner"), _unknown(entry.business_owner, "person or team", owners)
    if entry.it_team is not None and entry.it_team not in spec.teams:
        yield (*at, "it_team"), _unknown(entry.it_team, "team", spec.teams)
    if entry.vendor is not None and entry.vendor not in spec.vendors:
        yield (*at, "vendor"), _unknown(entry.vendor, "vendor", spec.vendors)
    for field in ("consulted", "informed"):
        for index, name in enumerate(getattr(entry, field)):
            if name not in everyone:
                yield (*at, field, index), _unknown(name, "person, team or vendor", everyone)
    for severity, raci in entry.raci.items():
        for role in ("R", "A", "C", "I"):
            names: list[str] | None = getattr(raci, _ROLE_FIELDS[role])
            for index, name in enumerate(names or []):
                if name not in everyone:
                    path = (*at, "raci", str(severity), role, index)
                    yield path, _unknown(name, "person, team or vendor", everyone)


_ROLE_FIELDS = {"R": "responsible", "A": "accountable", "C": "consulted", "I": "informed"}


def _channel_problems(at: _Path, channel: ChannelSpec) -> Iterator[tuple[_Path, str]]:
    kind = channel.kind
    address = channel.address
    if kind is ChannelKind.PAGERDUTY and not channel.routing_key:
        yield (
            (*at, "routing_key"),
            (
                "a pagerduty channel needs routing_key: the integration key, written as an "
                "environment reference such as ${PD_ROUTING_KEY}"
            ),
        )
    if kind is not ChannelKind.PAGERDUTY and channel.routing_key is not None:
        yield (*at, "routing_key"), f"only a pagerduty channel has a routing_key, not {kind}"
    if address is None:
        if kind is not ChannelKind.PAGERDUTY:
            yield (*at, "address"), f"a {kind} channel needs an address"
        return
    if address.startswith("${"):
        return  # read from the environment at send time, checked then
    if kind is ChannelKind.EMAIL:
        if not _EMAIL.match(address):
            yield (*at, "address"), "an email channel needs an address like ann@example.com"
    elif kind in _URL_KINDS and not _is_http_url(address):
        yield (
            (*at, "address"),
            (
                f"a {kind} channel's address must be an http:// or https:// URL (or an "
                "environment reference such as ${SLACK_HOOK})"
            ),
        )


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- a bad port raises here
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _severity_problems(severity: SeveritySpec) -> Iterator[tuple[_Path, str]]:
    for impact in Impact:
        row = severity.matrix.get(impact)
        if row is None:
            yield (
                ("severity", "matrix"),
                (
                    f"impact {impact} is missing; the matrix needs a row for each of high, "
                    "medium and low, each with high, medium and low urgency"
                ),
            )
            continue
        missing = [str(u) for u in Urgency if u not in row]
        if missing:
            yield (
                ("severity", "matrix", str(impact)),
                (
                    f"urgency {', '.join(missing)} missing; each impact row needs high, medium "
                    "and low urgency"
                ),
            )
    for index, rule in enumerate(severity.rules):
        if rule.impact is None and rule.urgency is None:
            yield ("severity", "rules", index), "a rule needs impact:, urgency: or both"


def _unknown(name: str, what: str, known: Iterable[str]) -> str:
    names = sorted(known)
    if not names:
        return f"{name!r} is not a known {what}; none is defined (add it to the file)"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"{name!r} is not a known {what} (known: {shown}); define it or fix the name"
