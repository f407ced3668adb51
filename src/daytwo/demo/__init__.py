"""The ``daytwo demo``: an order-fulfilment process run end to end on the embedded store.

Reusable pieces: :func:`create_app` declares the ``order`` workflow on a new App (the
``examples/orders.py`` app uses it too), :func:`plan_orders` and :func:`run_orders` drive a
batch of orders through an in-process worker while playing the sales manager, and
:func:`summarize` reads back what happened; :func:`prepare_incidents` applies the demo's
ownership registry (``ownership.yaml``) and :func:`demo_incidents` lists what the run
opened. The demo's SLOs are in ``_objectives.py`` (imported when an app is created, so
that importing this package does not load Pydantic).
"""

from daytwo.demo._driver import DemoPlan, Progress, plan_orders, run_orders
from daytwo.demo._incidents import demo_incidents, prepare_incidents
from daytwo.demo._orders import APPROVAL_THRESHOLD, create_app
from daytwo.demo._services import PaymentDeclined, PaymentUnavailable, Services
from daytwo.demo._summary import StateTime, Summary, summarize

__all__ = [
    "APPROVAL_THRESHOLD",
    "DemoPlan",
    "PaymentDeclined",
    "PaymentUnavailable",
    "Progress",
    "Services",
    "StateTime",
    "Summary",
    "create_app",
    "demo_incidents",
    "plan_orders",
    "prepare_incidents",
    "run_orders",
    "summarize",
]
