"""The demo's incidents: its ownership registry, and the incidents its run opened.

The demo's payment provider fails about 30% of charges and has an outage that opens the
``payments-api`` circuit; order 9 parks at shipping. With the bundled ``ownership.yaml``
(the order workflow and payments-api are critical) the incidents package turns these
into incidents as they happen, through the outbox: a SEV1 for the opened circuit (it
resolves when the circuit closes), a SEV2 for the parked order, and the SLO alerts of the
final evaluation (``run_once`` after it).
"""

from __future__ import annotations

from importlib.resources import files

import daytwo
from daytwo.incidents import (
    Incident,
    IncidentFilter,
    Incidents,
    IncidentsExtension,
    IncidentStatus,
    apply_ownership,
    parse_ownership,
)
from daytwo.store import EventKind

__all__ = ["OWNERSHIP_FILE", "demo_incidents", "prepare_incidents"]

#: Who acts on the incidents in the demo (the operator who retries the parked order).
OPERATOR = "demo-operator"

#: The demo's ownership.yaml, shipped inside the package.
OWNERSHIP_FILE = "ownership.yaml"


def prepare_incidents(app: daytwo.App) -> IncidentsExtension:
    """Apply the demo's ownership registry and register the incident rules, before the
    run (so that what happens from now on reaches them)."""
    extension = app.extension(IncidentsExtension)
    text = files("daytwo.demo").joinpath(OWNERSHIP_FILE).read_text(encoding="utf-8")
    ownership = parse_ownership(text, f"daytwo/demo/{OWNERSHIP_FILE}")
    apply_ownership(app.store, ownership, source=f"daytwo demo ({OWNERSHIP_FILE})", by="demo",
                    now=app.clock.now())  # fmt: skip
    extension.register()
    return extension


def demo_incidents(app: daytwo.App) -> list[Incident]:
    """Deliver what is pending to the rules, close the parked order's incident as its
    operator would (the order was retried and shipped), then every incident, oldest first."""
    app.extension(IncidentsExtension).run_once()
    incidents = Incidents.for_app(app)
    for incident in incidents.list(IncidentFilter(statuses=[IncidentStatus.TRIGGERED])):
        if incident.kind != str(EventKind.INSTANCE_PARKED):
            continue
        parked = incidents.affected_instances(incident.id)
        if all(app.get(i).status is daytwo.InstanceStatus.SUCCEEDED for i in parked[:1]):
            incidents.acknowledge(incident.id, by=OPERATOR)
            incidents.resolve(incident.id, reason="address corrected, order retried and shipped",
                              by=OPERATOR)  # fmt: skip
    return list(reversed(incidents.list(IncidentFilter(limit=1000))))
