"""Child workflows: ``ctx.child`` and ``ctx.start_child`` (the workflow-facing half).

Placeholder of the composition issue's foundation: the child-workflow operations are
added to :class:`ChildOperations`, which :class:`~daytwo.engine.Context` inherits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["ChildOperations"]


class ChildOperations:
    """The child-workflow operations of a workflow's context."""

    _run: Run
