"""What ``daytwo slo status | alerts | stuck`` show, read from an app's database.

:class:`SloReader` is the one implementation behind both the commands and the HTTP routes
(``/v1/slo/...``, ``_routes.py``): the command builds one over the objectives of ``--app``
and ``--objectives``, the route over the objectives of the server's app and the workflows
the caller's token may see. Over ``--server`` the commands read the same records from
those routes instead (``_cli_remote.py``), so both print them with the same functions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from daytwo.slo._alerts import Alert, list_alerts
from daytwo.slo._definitions import (
    CompensationRate,
    CycleTime,
    Objective,
    RetryRate,
    format_duration,
)
from daytwo.slo._results import SloStatus
from daytwo.slo._stuck import StuckInstance, stuck_report
from daytwo.slo._vocabulary import AlertStatus

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["SloReader", "SloSource", "StatusLine", "status_lines", "target_text"]


@dataclass(frozen=True, slots=True)
class StatusLine:
    """One objective as ``daytwo slo status`` shows it: its status and its target."""

    status: SloStatus
    #: The objective as the OBJECTIVE column shows it (``99.0% within 5m``).
    target: str


def percent(value: float | None, digits: int = 2) -> str:
    """``0.995`` as ``99.50%`` (nothing for None)."""
    return "" if value is None else f"{value * 100:.{digits}f}%"


def target_text(status: SloStatus, objective: Objective) -> str:
    """What the objective promises, in words: ``99.0%``, ``99.0% within 5m``, ``<= 0.5/instance
    (steps)``."""
    sli = objective.sli
    if isinstance(sli, CycleTime):
        return f"{percent(status.objective, 1)} within {format_duration(sli.within)}"
    if isinstance(sli, RetryRate | CompensationRate):
        return f"<= {sli.max_per_instance:g}/instance ({sli.scope})"
    return percent(status.objective, 1)


def status_lines(
    statuses: Sequence[SloStatus], objectives: Sequence[Objective]
) -> list[StatusLine]:
    """The statuses with their objectives' targets (every status is one of ``objectives``)."""
    by_name = {o.name: o for o in objectives}
    return [StatusLine(s, target_text(s, by_name[s.name])) for s in statuses]


class SloSource(Protocol):
    """Where ``daytwo slo status | alerts | stuck`` read: a database (:class:`SloReader`)
    or a server (``daytwo --server``, ``_cli_remote.py``)."""

    def status(self) -> list[StatusLine]:
        """Per objective: SLI, budget, burn rates and alert state."""
        ...

    def alerts(
        self, *, resolved: bool = False, objective: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Alerts, newest first (firing ones unless ``resolved``)."""
        ...

    def stuck(self, *, workflow: str | None = None, limit: int = 100) -> list[StuckInstance]:
        """Stuck instances, longest stuck first."""
        ...


class SloReader:
    """Reads the SLO state of ``app``'s database: status of ``objectives``, alerts, stuck
    instances.

    ``workflows``: only these workflows' objectives, alerts and stuck instances (a token
    limited to some workflows); None: everything.
    """

    def __init__(
        self,
        app: App,
        objectives: Sequence[Objective],
        *,
        workflows: Collection[str] | None = None,
    ) -> None:
        self.app = app
        self.workflows = None if workflows is None else frozenset(workflows)
        self.objectives = [o for o in objectives if self.sees(o.workflow)]

    def sees(self, workflow: str) -> bool:
        """Whether ``workflow`` is within the reader's scope."""
        return self.workflows is None or workflow in self.workflows

    def status(self) -> list[StatusLine]:
        """Per objective: SLI, budget, burn rates and alert state (as last evaluated)."""
        from daytwo.slo._evaluator import Evaluator

        if not self.objectives:
            return []
        statuses = Evaluator.for_app(self.app, self.objectives).status()
        return status_lines(statuses, self.objectives)

    def alerts(
        self, *, resolved: bool = False, objective: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Alerts, newest first: firing ones, or resolved ones too (``resolved``).

        A scoped reader shows the alerts of its objectives only: an alert names its
        objective, whose definition says the workflow.
        """
        visible = None if self.workflows is None else {o.name for o in self.objectives}
        return list_alerts(
            self.app.store,
            status=None if resolved else AlertStatus.FIRING,
            objective=objective,
            limit=limit,
            objectives=visible,
        )

    def stuck(self, *, workflow: str | None = None, limit: int = 100) -> list[StuckInstance]:
        """Stuck instances, longest stuck first, with thresholds from the stuck-ratio
        objectives (else the defaults)."""
        known = list(self.app.registry.workflows) or None  # None: find them in the store
        if self.workflows is not None:
            # Exactly the scope's workflows: never a scan of the whole store.
            known = sorted(self.workflows if workflow is None else self.workflows & {workflow})
            if not known:
                return []
        found = stuck_report(
            self.app.store, self.app.clock.now(), self.objectives, known,
            workflow=workflow, limit=limit,
        )  # fmt: skip
        return [item for item in found if self.sees(item.workflow)]
