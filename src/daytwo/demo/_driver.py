"""Running the demo: sample orders, start them, act as the sales manager, report progress."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import daytwo
from daytwo.demo._orders import APPROVAL_THRESHOLD
from daytwo.demo._services import Services

__all__ = ["DemoPlan", "Progress", "plan_orders", "run_orders"]

CUSTOMERS = ("Acme GmbH", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Ltd")
COUNTRIES = ("Germany", "France", "Netherlands", "Spain", "Italy", "Austria")


@dataclass(frozen=True)
class DemoPlan:
    """The orders to run and the manager's decisions."""

    orders: list[dict[str, Any]]
    #: Ids of the large orders the manager rejects (all others are approved).
    reject: frozenset[str]


def plan_orders(count: int = 20, seed: int = 7) -> DemoPlan:
    """``count`` orders, the same for the same seed.

    Every fifth order (from the third) is large and needs approval; the manager rejects the
    second large one; the twelfth goes to a country the carrier does not serve, so it is
    charged, then refunded. Both end COMPENSATED. The ninth has no street: the carrier
    refuses it, it parks (NEEDS_ATTENTION) until the operator corrects the address and
    retries it, then ships.
    """
    rng = random.Random(seed)
    orders: list[dict[str, Any]] = []
    large_orders: list[str] = []
    for number in range(1, count + 1):
        order_id = f"A-{1000 + number}"
        large = number % 5 == 3
        if large:
            large_orders.append(order_id)
        low, high = (APPROVAL_THRESHOLD + 100, 2500) if large else (20, 900)
        orders.append(
            {
                "id": order_id,
                "customer": rng.choice(CUSTOMERS),
                "country": "Atlantis" if number == 12 else rng.choice(COUNTRIES),
                "total": round(rng.uniform(low, high), 2),
                "street": "" if number == 9 else f"{number + 10} Harbour Road",
            }
        )
    return DemoPlan(orders, frozenset(large_orders[1:2]))


@dataclass(frozen=True)
class Progress:
    """Where a demo run stands."""

    total: int
    by_status: dict[daytwo.InstanceStatus, int]
    #: What happened that a person would notice (manager decisions), oldest first.
    events: list[str] = field(default_factory=list)

    @property
    def finished(self) -> int:
        """Instances that have ended."""
        return sum(n for status, n in self.by_status.items() if status.terminal)


class _Manager:
    """Plays the sales manager: decides each approval task after ``think`` seconds."""

    def __init__(self, app: daytwo.App, ids: set[str], reject: frozenset[str], think: float):
        self.app = app
        self.ids = ids
        self.reject = reject
        self.think = think
        self.events: list[str] = []

    def act(self) -> None:
        now = datetime.now(UTC)
        for task in self.app.tasks.list(assignee="role:sales-manager", limit=1000):
            if task.instance_id not in self.ids:
                continue
            if (now - task.created_at).total_seconds() < self.think:
                continue
            order = task.payload["order"]
            total = task.payload["total"]
            if order in self.reject:
                decision = {"approved": False, "reason": "customer is over their credit limit"}
                self.events.append(f"manager rejected {order} ({total:,.2f})")
            else:
                decision = {"approved": True}
                self.events.append(f"manager approved {order} ({total:,.2f})")
            self.app.tasks.complete(task.id, decision, by="demo-manager")


class _Operator:
    """Plays the operator on call: a parked order's address is corrected with the customer
    (``services``), then its step is retried; the circuit breaker's changes are noted."""

    def __init__(self, app: daytwo.App, ids: list[str], services: Services | None, think: float):
        self.app = app
        self.ids = ids
        self.services = services
        self.think = think
        self.events: list[str] = []
        self._retried: set[str] = set()
        self._circuit: str | None = None

    def act(self, instances: list[daytwo.Instance]) -> None:
        now = datetime.now(UTC)
        for instance in instances:
            if instance.status is not daytwo.InstanceStatus.NEEDS_ATTENTION:
                continue
            if instance.id in self._retried:
                continue
            if (now - instance.state_entered_at).total_seconds() < self.think:
                continue
            order = instance.input["id"]
            self.events.append(f"{order} parked at {instance.wait_name}: the carrier refused it")
            if self.services is not None:
                self.services.correct_address(order)
            self.app.retry(
                instance.id, reason="address corrected with the customer", by="demo-operator"
            )
            self._retried.add(instance.id)
            self.events.append(f"operator corrected {order}'s address and retried it")
        breakers = {b.name: b for b in self.app.breakers.list()}
        status = breakers.get("payments-api")
        state = None if status is None else str(status.breaker.state)
        if state is not None and state != self._circuit:
            if self._circuit is not None or state != "closed":
                self.events.append(f"payments-api circuit {state.replace('_', '-')}")
            self._circuit = state


def run_orders(
    app: daytwo.App,
    plan: DemoPlan,
    *,
    concurrency: int = 8,
    think: float = 0.3,
    timeout: float = 60.0,
    on_progress: Callable[[Progress], None] | None = None,
    services: Services | None = None,
) -> list[str]:
    """Start the plan's orders, run them on an in-process worker until all have ended,
    playing the sales manager and the operator (who fixes a parked order through
    ``services``, the app's stand-ins, and retries it).

    Returns the instance ids. Raises :class:`TimeoutError` if they do not all end within
    ``timeout`` seconds.
    """
    run = uuid.uuid4().hex[:6]
    ids = [f"{order['id']}-{run}" for order in plan.orders]
    manager = _Manager(app, set(ids), plan.reject, think)
    operator = _Operator(app, ids, services, think)
    operator.events = manager.events  # one story, in the order things happened
    deadline = time.monotonic() + timeout
    with app.worker(concurrency=concurrency, poll_interval=0.05):
        for order, instance_id in zip(plan.orders, ids, strict=True):
            app.start("order", order, id=instance_id)
        while True:
            manager.act()
            instances = [app.get(instance_id) for instance_id in ids]
            operator.act(instances)
            statuses = Counter(instance.status for instance in instances)
            progress = Progress(len(ids), dict(statuses), list(manager.events))
            if on_progress is not None:
                on_progress(progress)
            if progress.finished == len(ids):
                return ids
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the demo's orders did not all finish within {timeout} s "
                    f"({progress.finished} of {len(ids)} did)"
                )
            time.sleep(0.05)
