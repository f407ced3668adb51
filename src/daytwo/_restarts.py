"""Restart and fork: a new instance made from an ended one, linked to it.

* **restart**: the same workflow (its newest version unless one is given) with the same
  input, queue and priority, from the start.
* **fork** at a position: the same, but the new instance's history begins with the old
  one's rows before that position, copied with their results (and their idempotency
  keys, which name the calls that produced them); replay returns them without executing,
  and the steps after the fork run for real under the new id's keys. Failed attempts are
  not copied. Like DBOS ``fork`` and Temporal ``reset``.

Both act on ended instances only: two live copies of one business case (two charges of
one order) is what an operator must choose explicitly, by cancelling, aborting or
terminating the old one first. The new id defaults to ``{old}-restart-N`` /
``{old}-fork-N`` (N counts the earlier restarts or forks of the old instance), so a
repeated call makes another copy; a given ``new_id`` makes the call idempotent: the same
request again returns the instance it made (``created=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daytwo._audit import AuditEntry, AuditTarget, OperatorAction, resolve_actor
from daytwo._errors import InvalidInput, NotRunnable
from daytwo._handles import InstanceHandle
from daytwo._starts import check_same_start, outside_workflow
from daytwo.store import (
    TERMINAL_STATUSES,
    HistoryKind,
    InstanceLink,
    InstanceRow,
    LinkKind,
    count_links,
    derive_instance,
)

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["fork", "restart"]

#: History kinds that begin the end of an instance: a fork cannot start inside them.
_ENDING = frozenset({HistoryKind.COMPENSATION, HistoryKind.CANCEL})


def restart(
    client: Client,
    instance_id: str,
    *,
    new_id: str | None = None,
    version: str | None = None,
    reason: str | None = None,
    by: str | None = None,
) -> InstanceHandle:
    """A new instance of an ended one's workflow (its newest version unless ``version``)
    with the same input, queue and priority, linked to it. The new id is ``new_id``
    (idempotent: the same call returns the instance it made) or ``{id}-restart-N``.
    Refused (:class:`NotRunnable`) while the instance is active. Audited."""
    outside_workflow(f"{client.caller}.restart()", "restart it again")
    entry = AuditEntry(
        resolve_actor(by), OperatorAction.RESTART, AuditTarget.INSTANCE, instance_id, reason,
        params=_params(new_id=new_id, version=version),
    )  # fmt: skip
    with client.audit.refusals(entry):
        old = _ended(client, instance_id, "restart")
        return _derive(client, old, LinkKind.RESTARTED_FROM, new_id, version, None, entry)


def fork(
    client: Client,
    instance_id: str,
    position: int,
    *,
    new_id: str | None = None,
    version: str | None = None,
    reason: str | None = None,
    by: str | None = None,
) -> InstanceHandle:
    """As :meth:`restart`, but the new instance (``{id}-fork-N``) begins with the recorded
    history rows before ``position``, results included: replay returns them without
    executing. A position past the history or inside its compensation is
    :class:`InvalidInput`. Audited."""
    outside_workflow(f"{client.caller}.fork()", "fork it again")
    entry = AuditEntry(
        resolve_actor(by), OperatorAction.FORK, AuditTarget.INSTANCE, instance_id, reason,
        params=_params(position=position, new_id=new_id, version=version),
    )  # fmt: skip
    with client.audit.refusals(entry):
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidInput(
                f"a fork position is a history position, 0 or more (got {position!r}); "
                f"see daytwo instance history {instance_id}"
            )
        old = _ended(client, instance_id, "fork")
        return _derive(client, old, LinkKind.FORKED_FROM, new_id, version, position, entry)


def _params(**values: Any) -> dict[str, Any] | None:
    given = {name: value for name, value in values.items() if value is not None}
    return given or None


def _ended(client: Client, instance_id: str, verb: str) -> InstanceRow:
    old = client._stored(instance_id)
    if old["status"] not in TERMINAL_STATUSES:
        raise NotRunnable(
            f"instance {instance_id!r} is {old['status']} (state {old['state']!r}); {verb} "
            "makes a new instance from an ended one: cancel, abort or terminate it first"
        )
    return old


def _copied_history(client: Client, old: InstanceRow, position: int, new_id: str) -> list[Any]:
    """The old rows before ``position``, for the new instance; refuses a position past
    the history or inside its compensation."""
    rows = client.store.load_history(old["id"])
    if position > len(rows):
        raise InvalidInput(
            f"position {position} is past the history of {old['id']!r}, which has "
            f"{len(rows)} operations; fork at 0..{len(rows)}"
        )
    ending = next((row["seq"] for row in rows if row["kind"] in _ENDING), None)
    if ending is not None and position > ending:
        raise InvalidInput(
            f"position {position} is inside the ending of {old['id']!r} (its "
            f"{rows[ending]['kind']} began at position {ending}); fork at 0..{ending}"
        )
    return [{**row, "instance_id": new_id} for row in rows[:position]]


def _derive(
    client: Client,
    old: InstanceRow,
    kind: LinkKind,
    new_id: str | None,
    version: str | None,
    position: int | None,
    entry: AuditEntry,
) -> InstanceHandle:
    word = "restart" if kind is LinkKind.RESTARTED_FROM else "fork"
    chosen = new_id or f"{old['id']}-{word}-{count_links(client.store, old['id'], kind) + 1}"
    value = client.serializer.loads(old["input"])
    build = client._rows(old["workflow"], version, old["queue"], old["priority"])
    row = build(value, chosen)
    copied = [] if position is None else _copied_history(client, old, position, chosen)
    row["history_size"] = len(copied)
    now = client.clock.now()
    link = InstanceLink(old["id"], kind, position)
    created, existing = derive_instance(
        client.store, row, link, copied=copied, audit=entry, now=now
    )
    if created:
        client.events.changed()
        client.serving.warn_if_unserved(row)
    else:  # the same request again (a given id): the instance it made
        check_same_start(client.serializer, existing, row, version)
        client.store.record_audit(
            AuditEntry(**{**_fields(entry), "detail": f"{chosen} exists already"}), now
        )
    return InstanceHandle(client, chosen, created=created)


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in AuditEntry.__slots__}
