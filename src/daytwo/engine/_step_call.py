"""A step call described but not made: what ``step.defer(...)`` returns for ``ctx.gather``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from daytwo.store import HistoryKind

if TYPE_CHECKING:
    from daytwo.engine._definitions import Step

__all__ = ["StepCall"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StepCall(Generic[R]):
    """A call of ``step`` with these arguments, to be made as one branch of a fan-out.

    Made by :meth:`daytwo.Step.defer`; typed by the step's result, so that
    ``ctx.gather(price.defer(a), price.defer(b))`` is a ``list`` of the step's results.
    """

    step: Step[..., R]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    #: The kind of the history row a branch of this kind records (the branch protocol).
    history_kind = HistoryKind.STEP

    @property
    def name(self) -> str:
        """The name its history row carries: the step's."""
        return self.step.name

    def __repr__(self) -> str:
        return f"<daytwo call of step {self.step.name!r}>"
