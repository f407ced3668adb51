"""Parallel steps: ``ctx.gather`` and ``ctx.map`` (the workflow-facing half).

Placeholder of the composition issue's foundation: the fan-out operations are added to
:class:`ParallelOperations`, which :class:`~daytwo.engine.Context` inherits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daytwo.engine._runner import Run

__all__ = ["ParallelOperations"]


class ParallelOperations:
    """The fan-out operations of a workflow's context."""

    _run: Run
