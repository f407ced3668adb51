"""Child workflows: ``ctx.child`` and ``ctx.start_child`` (the workflow-facing half).

The positions they record and how a child's end reaches its parent are described in
``_child_runs.py``; :class:`ChildOperations` is inherited by
:class:`~daytwo.engine.Context`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daytwo._errors import InvalidInput
from daytwo.store import ParentClose

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["ChildHandle", "ChildOperations", "parent_close", "workflow_name"]


def workflow_name(workflow: Callable[..., Any] | str) -> str:
    """The name of ``workflow``: a function ``@app.workflow`` returned, or a name."""
    if isinstance(workflow, str):
        from daytwo.engine._definitions import check_name

        return check_name("workflow", workflow)
    name = getattr(workflow, "__daytwo_workflow__", None)
    if isinstance(name, str):
        return name
    raise InvalidInput(
        f"a child workflow is a function decorated with @app.workflow or a workflow name, "
        f"not {workflow!r}"
    )


def parent_close(value: ParentClose | str) -> ParentClose:
    """``value`` as a :class:`ParentClose`, or InvalidInput naming the choices."""
    try:
        return ParentClose(value)
    except ValueError:
        choices = ", ".join(str(member) for member in ParentClose)
        raise InvalidInput(f"on_parent_close must be one of {choices}, not {value!r}") from None


class ChildHandle:
    """A child workflow started by ``ctx.start_child``: its id and workflow, and
    :meth:`result` to wait for it."""

    __slots__ = ("_run", "id", "workflow")

    def __init__(self, run: Run, child_id: str, workflow: str) -> None:
        self._run = run
        #: The child's instance id.
        self.id = child_id
        #: The child's workflow name.
        self.workflow = workflow

    def result(self) -> Any:
        """Wait durably for the child's end (a position of the parent where this is
        called) and return its output; raises :class:`daytwo.ChildFailed` if it ended
        otherwise. The parent holds no thread while it waits."""
        from daytwo.engine._child_runs import wait_for_child  # (imports the Context)

        return wait_for_child(self._run, self.id, self.workflow)

    def __repr__(self) -> str:
        return f"<daytwo child {self.workflow!r} {self.id!r}>"


class ChildOperations:
    """The child-workflow operations of a workflow's context."""

    _run: Run

    def start_child(
        self,
        workflow: Callable[..., Any] | str,
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        on_parent_close: ParentClose | str = ParentClose.CANCEL,
    ) -> ChildHandle:
        """Start a child workflow (durably, exactly once) and return its handle at once.

        ``workflow``: the ``@app.workflow`` function or its name. ``id``: the child's
        instance id (default ``{parent id}:{position}``; an id an instance that is not this
        parent's child has raises :class:`daytwo.ChildIdTaken`). ``version``/``queue``:
        default the registered workflow's newest version and its queue (a workflow this app
        does not register needs ``version=``). ``on_parent_close``: what the parent's end
        does to the child if it is still active then (:class:`daytwo.ParentClose`).
        """
        name = workflow_name(workflow)
        policy = parent_close(on_parent_close)
        from daytwo.engine._child_runs import start_child  # (imports the Context)

        child_id = start_child(self._run, name, input, id, version, queue, policy)
        return ChildHandle(self._run, child_id, name)

    def child(
        self,
        workflow: Callable[..., Any] | str,
        input: Any = None,
        *,
        id: str | None = None,
        version: str | None = None,
        queue: str | None = None,
        on_parent_close: ParentClose | str = ParentClose.CANCEL,
    ) -> Any:
        """Start a child workflow and wait durably for its result (two positions: the
        start and the wait); raises :class:`daytwo.ChildFailed` if the child ended
        otherwise than SUCCEEDED. Arguments as :meth:`start_child`."""
        handle = self.start_child(
            workflow, input, id=id, version=version, queue=queue, on_parent_close=on_parent_close
        )
        return handle.result()
