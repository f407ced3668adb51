"""The system workflow ``daytwo.bulk``: a bulk job, run durably on the workers (dogfood).

Every App registers it (so every worker serves it); the engine, store and worker know
nothing of it. Its input is the job's id, which is also the instance's id. It acts on the
job's pending instances batch by batch, each batch a step, and sleeps durably after each
for the job's rate; a worker killed mid-batch loses that step's attempt, and the next
worker runs the batch again, which skips the instances already acted on. Cancelling the
instance stops the job (``daytwo instance cancel JOB``): what was done stays done, the
rest stays pending, and the job ends ``stopped``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daytwo._bulk import BULK_VERSION, BULK_WORKFLOW, act_on_batch, end_job, stop_job
from daytwo.engine import Context, Retry

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = ["register_bulk_workflow"]

#: A batch that raises (the database went away) is tried again, patiently: the work is
#: the operator's, already decided.
_BATCH_RETRY = Retry(max_attempts=20, initial_delay=1.0, backoff=2.0, max_delay=60.0)


def register_bulk_workflow(app: App) -> None:
    """Register ``daytwo.bulk`` and its steps on ``app``."""

    @app.step(name=f"{BULK_WORKFLOW}.batch", retry=_BATCH_RETRY)
    def bulk_batch(job_id: str) -> dict[str, Any]:
        return act_on_batch(app.client, job_id)

    @bulk_batch.compensate
    def bulk_stopped(job_id: str, batch: dict[str, Any]) -> None:
        # The job's instance was cancelled (or failed): what was done stays done (there is
        # nothing to undo); the job and its audit row end "stopped" with their counts.
        stop_job(app.client, job_id)

    @app.step(name=f"{BULK_WORKFLOW}.finish", retry=_BATCH_RETRY)
    def bulk_finish(job_id: str) -> str:
        return end_job(app.client, job_id)

    @app.workflow(name=BULK_WORKFLOW, version=BULK_VERSION)
    def bulk_job(ctx: Context, job_id: str) -> str:
        while True:
            batch = bulk_batch(job_id)
            if not batch["more"]:
                break
            if batch["pause"] > 0:
                ctx.sleep(batch["pause"], name="bulk rate limit")
        return bulk_finish(job_id)
