"""The per-instance actions a bulk job can take, by name, and the parameters each takes.

Each is the operator's own action on one instance (``client.retry``, ``client.cancel``,
...), called as ``(client, instance id, params, reason, actor)``; wiring a new one is a
line in :data:`ACTIONS` (and in :data:`PARAMETERS` if it takes any).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from daytwo._audit import OperatorAction
from daytwo._errors import InvalidInput

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["ACTIONS", "PARAMETERS", "Action", "action_named", "checked_params"]


#: Acts on one instance: (client, instance id, params, reason, actor).
Action = Callable[["Client", str, Mapping[str, Any], "str | None", str], Any]


def _cancel(client: Client, instance_id: str, params: Mapping[str, Any], reason: str | None,
            by: str) -> Any:  # fmt: skip
    return client.cancel(instance_id, reason or "cancelled in bulk", by=by)


def _restart(client: Client, instance_id: str, params: Mapping[str, Any], reason: str | None,
             by: str) -> Any:  # fmt: skip
    return client.restart(instance_id, version=params.get("version"), reason=reason, by=by)


def _skip(client: Client, instance_id: str, params: Mapping[str, Any], reason: str | None,
          by: str) -> Any:  # fmt: skip
    return client.skip(instance_id, params["result"], reason=reason, by=by)


def _plain(name: str) -> Action:
    """An action that takes only the instance, ``reason`` and ``by`` (retry, abort, ...)."""

    def act(client: Client, instance_id: str, params: Mapping[str, Any], reason: str | None,
            by: str) -> Any:  # fmt: skip
        return getattr(client, name)(instance_id, reason=reason, by=by)

    return act


#: Every action a bulk job can take, by its audit name; wiring one more is one line. (Not
#: fork: its position belongs to one instance's history.)
ACTIONS: dict[OperatorAction, Action] = {
    OperatorAction.RETRY: _plain("retry"),
    OperatorAction.SKIP: _skip,
    OperatorAction.RESUME: _plain("resume"),
    OperatorAction.WAKE: _plain("wake"),
    OperatorAction.CANCEL: _cancel,
    OperatorAction.ABORT: _plain("abort"),
    OperatorAction.TERMINATE: _plain("terminate"),
    OperatorAction.RESTART: _restart,
}
#: The parameters each action takes, and those it must be given.
PARAMETERS: dict[OperatorAction, tuple[frozenset[str], frozenset[str]]] = {
    OperatorAction.RESTART: (frozenset({"version"}), frozenset()),
    OperatorAction.SKIP: (frozenset(), frozenset({"result"})),
}


def action_named(name: str | OperatorAction) -> OperatorAction:
    """The bulk action ``name`` ("retry" or "instance.retry"); refuses others in a line."""
    text = str(name)
    for action in ACTIONS:
        if text in (action.value, action.value.removeprefix("instance.")):
            return action
    names = ", ".join(a.value.removeprefix("instance.") for a in ACTIONS)
    raise InvalidInput(f"unknown bulk action {text!r}; use one of {names}")


def checked_params(
    client: Client, action: OperatorAction, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    given = dict(params or {})
    allowed, required = PARAMETERS.get(action, (frozenset(), frozenset()))
    unknown = sorted(set(given) - allowed - required)
    if unknown:
        takes = ", ".join(sorted(allowed | required)) or "no parameters"
        raise InvalidInput(f"bulk {action.value} does not take {unknown[0]!r}; it takes {takes}")
    missing = sorted(required - set(given))
    if missing:
        raise InvalidInput(
            f"bulk {action.value} needs {missing[0]!r} (on the command line: --{missing[0]})"
        )
    if "result" in given:  # stored as JSON in the job: it must serialize now
        client.serializer.dumps(given["result"], f"the result of bulk {action.value}")
    return given
