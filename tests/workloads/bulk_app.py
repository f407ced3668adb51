"""A workload for the bulk-job crash test: a one-step workflow whose instances live in the
queue ``held``, which the test's worker processes do not serve (they serve ``default``,
where the ``daytwo.bulk`` job runs), so what a bulk action makes of them stays put for
the test to count.

The database comes from ``$DAYTWO_DATABASE``; tests build their own copy with
:func:`build_app`.
"""

from __future__ import annotations

import daytwo

#: The queue of the workload's instances.
HELD = "held"


def build_app(database: str | None = None) -> daytwo.App:
    """The workload app on ``database``."""
    app = daytwo.App(database)

    @app.step()
    def record(n: int) -> int:
        return n

    @app.workflow(name="parcel", queue=HELD)
    def parcel(ctx: daytwo.Context, n: int) -> int:
        return record(n)

    return app


app = build_app()
