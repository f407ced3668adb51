"""Stand-ins for the external systems an order touches: inventory, payments, carrier.

They are deterministic for a given seed (whatever order threads call them in), so a demo
run can be repeated and tested: whether a payment attempt fails depends only on the seed,
the order and the attempt number.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "UNDELIVERABLE_COUNTRIES",
    "AddressRejected",
    "PaymentDeclined",
    "PaymentUnavailable",
    "Services",
]

#: Countries the carrier does not deliver to: shipping there is a business rejection.
UNDELIVERABLE_COUNTRIES = frozenset({"Atlantis"})


class PaymentUnavailable(ConnectionError):
    """The payment provider timed out; retrying later usually works."""


class PaymentDeclined(Exception):
    """The card was declined; retrying does not help."""


class AddressRejected(Exception):
    """The carrier cannot read the delivery address; someone must correct it first."""


@dataclass
class Services:
    """Inventory, payment provider and carrier, with seeded latency and failures."""

    seed: int = 7
    #: Probability that one charge attempt fails with :class:`PaymentUnavailable`.
    payment_failure_rate: float = 0.3
    #: Range of the simulated latency of one call, in seconds.
    latency: tuple[float, float] = (0.02, 0.12)
    #: How long the payment provider is down from the first charge on (an outage the
    #: ``payments-api`` circuit breaker rides out); 0: no outage.
    outage_seconds: float = 1.0
    _charges: dict[str, str] = field(default_factory=dict)
    _corrected: set[str] = field(default_factory=set)
    _outage_from: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _rng(self, *parts: Any) -> random.Random:
        return random.Random(":".join(str(part) for part in (self.seed, *parts)))

    def _call(self, *parts: Any) -> random.Random:
        rng = self._rng(*parts)
        time.sleep(rng.uniform(*self.latency))
        return rng

    def reserve(self, order: dict[str, Any]) -> str:
        """Reserve the order's items; returns the reservation id."""
        self._call("reserve", order["id"])
        return f"res-{order['id']}"

    def release(self, reservation_id: str) -> None:
        """Give reserved items back to stock."""
        self._call("release", reservation_id)

    def charge(self, order: dict[str, Any], idempotency_key: str, attempt: int) -> str:
        """Charge the order's total; the same idempotency key never charges twice."""
        with self._lock:
            if self._outage_from is None:
                self._outage_from = time.monotonic()
            down = time.monotonic() - self._outage_from < self.outage_seconds
        rng = self._call("charge", order["id"], attempt)
        if down:
            raise PaymentUnavailable("payments API is down (HTTP 503 Service Unavailable)")
        if rng.random() < self.payment_failure_rate:
            raise PaymentUnavailable(f"payments API timed out (HTTP 504) on attempt {attempt}")
        with self._lock:
            return self._charges.setdefault(idempotency_key, f"ch-{order['id']}")

    def refund(self, charge_id: str) -> None:
        """Refund a charge in full."""
        self._call("refund", charge_id)

    def ship(self, order: dict[str, Any]) -> str:
        """Hand the parcel to the carrier; returns the tracking number. An order whose
        street is empty is refused until its address was corrected."""
        self._call("ship", order["id"])
        with self._lock:
            corrected = order["id"] in self._corrected
        if order.get("street") == "" and not corrected:
            raise AddressRejected(f"carrier rejected the address of {order['id']}: no street")
        return f"TRK-{order['id']}"

    def correct_address(self, order_id: str) -> None:
        """Someone called the customer: the carrier now has the order's full address."""
        with self._lock:
            self._corrected.add(order_id)
