"""What every start checks and stores: a new instance's row, and what its id means.

Shared by :meth:`App.start` (a worker runs the instance), :meth:`App.run` (this process
runs it) and :meth:`Client.start` (no workflow code at hand), so all refuse the same inputs
and treat an existing id the same way.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from daytwo._errors import InstanceConflict, InvalidInput
from daytwo._timeouts import deadline_of
from daytwo.engine import JsonSerializer, Serializer, WorkflowDefinition, check_name, current_run
from daytwo.store import ServedWorkflow, queued_instance

__all__ = [
    "RowBuilder",
    "check_priority",
    "check_same_start",
    "check_start_options",
    "new_instance_id",
    "new_row",
    "outside_workflow",
    "queued_row",
    "rows_by_name",
    "rows_from_code",
]

#: Builds the row of one start from its input and id (None: a new id).
RowBuilder = Callable[[Any, str | None], dict[str, Any]]


def new_instance_id() -> str:
    """A fresh instance id: creation time (µs, hex) then 48 random bits.

    Ids that sort by creation time keep inserts at the end of the primary-key indexes
    (instances, history), which keeps commits and checkpoints small, and list in order.
    """
    return f"{time.time_ns() // 1000:013x}{secrets.token_hex(6)}"


def new_row(
    definition: WorkflowDefinition,
    input: Any,
    instance_id: str | None,
    *,
    queue: str,
    priority: int,
    serializer: Serializer,
    now: float,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The ``instances`` row of a new instance, queued; the input checked against the
    workflow's signature first (nothing is stored for an input it cannot take). Its
    deadline is ``timeout`` from now, else the workflow's ``timeout``, if any."""
    if instance_id is not None:
        check_name("instance id", instance_id)
    text = serializer.dumps(input, f"the input of workflow {definition.name!r}")
    definition.signature.check(input, text, type(serializer) is JsonSerializer)
    return queued_row(
        definition.name, definition.version, text, instance_id,
        queue=queue, priority=priority, now=now,
        timeout=definition.timeout if timeout is None else timeout,
    )  # fmt: skip


def queued_row(
    workflow: str,
    version: str,
    input_text: str,
    instance_id: str | None,
    *,
    queue: str,
    priority: int,
    now: float,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The ``instances`` row of a new instance of ``workflow`` ``version``, queued, with
    its input already serialized (a client without the workflow's code cannot check it
    against the signature: the run refuses an input its function cannot take)."""
    if instance_id is not None:
        check_name("instance id", instance_id)
    return queued_instance(
        instance_id or new_instance_id(), workflow, version, input_text,
        queue=queue, priority=priority, now=now, deadline_at=deadline_of(now, timeout),
    )  # fmt: skip


def check_same_start(
    serializer: Serializer,
    existing: Mapping[Any, Any],
    row: Mapping[str, Any],
    version: str | None,
) -> None:
    """Refuse a start whose id names an instance started otherwise.

    An id names one start, like an idempotency key: the same workflow and input again mean
    the same instance; another workflow, version or input is :class:`InstanceConflict`. The
    version counts only when the caller named one: a start repeated after a deploy of a
    newer version (same id, same input) still means the same instance.
    """
    if existing["workflow"] != row["workflow"]:
        difference = f"workflow {existing['workflow']!r}, not {row['workflow']!r}"
    elif version is not None and existing["version"] != version:
        difference = f"version {existing['version']!r}, not {version!r}"
    elif not _same_value(serializer, existing["input"], row["input"]):
        difference = "a different input"
    else:
        return
    raise InstanceConflict(existing["id"], difference)


def _same_value(serializer: Serializer, stored: str, given: str) -> bool:
    if stored == given:
        return True
    try:  # the same JSON value written with its keys in another order
        return bool(
            json.dumps(json.loads(stored), sort_keys=True)
            == json.dumps(json.loads(given), sort_keys=True)
        )
    except ValueError:  # another serializer's text: compare what it gives back
        return bool(serializer.loads(stored) == serializer.loads(given))


def outside_workflow(action: str, effect: str) -> None:
    """Refuse a client call made by workflow code (outside a step).

    Workflow code runs again from the top on every replay, so a start or a signal there
    would happen once per replay (two starts after one sleep). Inside a step (whose outcome
    is recorded once) it is allowed: that is where side effects belong.
    """
    run = current_run()
    if run is not None:
        raise InvalidInput(
            f"{action} was called by the code of workflow {run.definition.name!r} (instance "
            f"{run.instance_id!r}), which runs again on every replay and would {effect} each "
            "time; call it from a step instead, with a deterministic id such as "
            'f"{ctx.instance_id}-child"'
        )


def check_priority(priority: object) -> None:
    """Refuse a priority that is not a 32-bit integer."""
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InvalidInput(f"priority must be an integer, lower runs first (got {priority!r})")
    if not -(2**31) <= priority < 2**31:
        raise InvalidInput(f"priority must fit in 32 bits (got {priority})")


def check_start_options(
    workflow: object, version: object, queue: str | None, priority: int | None
) -> None:
    """Refuse a start by name whose workflow, version, queue or priority is malformed."""
    if not isinstance(workflow, str):
        raise InvalidInput(
            f"a Client starts workflows by name (got {workflow!r}); pass the name given "
            "to @app.workflow"
        )
    check_name("workflow", workflow)
    if queue is not None:
        check_name("queue", queue)
    if priority is not None:
        check_priority(priority)
    if version is not None and (not isinstance(version, str) or not version.strip()):
        raise InvalidInput(f"workflow version must be a non-empty string (got {version!r})")


def rows_from_code(
    definition: WorkflowDefinition,
    queue: str | None,
    priority: int | None,
    serializer: Serializer,
    now: Callable[[], float],
    timeout: float | None = None,
) -> RowBuilder:
    """Rows of starts of a workflow whose code is here: its defaults, its input check."""
    in_queue = definition.queue if queue is None else queue
    at_priority = definition.priority if priority is None else priority

    def build(input: Any, instance_id: str | None) -> dict[str, Any]:
        return new_row(
            definition, input, instance_id, queue=in_queue, priority=at_priority,
            serializer=serializer, now=now(), timeout=timeout,
        )  # fmt: skip

    return build


def rows_by_name(
    served: ServedWorkflow,
    queue: str | None,
    priority: int | None,
    serializer: Serializer,
    now: Callable[[], float],
    timeout: float | None = None,
) -> RowBuilder:
    """Rows of starts of a workflow known by name: the defaults the workers registered."""
    in_queue = served.queue if queue is None else queue
    at_priority = served.priority if priority is None else priority
    within = served.timeout if timeout is None else timeout

    def build(input: Any, instance_id: str | None) -> dict[str, Any]:
        text = serializer.dumps(input, f"the input of workflow {served.name!r}")
        return queued_row(
            served.name, served.version, text, instance_id,
            queue=in_queue, priority=at_priority, now=now(), timeout=within,
        )  # fmt: skip

    return build
