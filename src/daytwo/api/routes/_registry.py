"""What runs and what is kept: the registered workflows, the workers, and purging ended
instances (``client.workflows``, ``client.workers``, ``client.purge``)."""

from __future__ import annotations

import builtins
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from daytwo._errors import InvalidInput
from daytwo._live_workers import WorkerInfo
from daytwo._moments import parse_moment
from daytwo._purge import PurgeReport
from daytwo._registered import RegisteredWorkflow
from daytwo.api._auth import owner, viewer
from daytwo.api._models import Body
from daytwo.api.routes._common import Api
from daytwo.store import DEFAULT_BATCH

__all__ = ["PurgeRequest", "router"]

router = APIRouter(tags=["registry"])

#: The last moment a datetime can hold (9999-12-31T23:59:59Z), in epoch seconds.
_LAST_MOMENT = 253_402_300_799.0


@router.get("/workflows", response_model=builtins.list[RegisteredWorkflow])
def workflows(api: Api, caller: viewer) -> builtins.list[RegisteredWorkflow]:
    """The workflow versions the workers registered (what can be started by name, with
    which defaults), by name then newest version first; a scoped token sees its own."""
    return [found for found in api.client.workflows() if caller.token.sees(found.name)]


@router.get("/workers", response_model=builtins.list[WorkerInfo])
def workers(api: Api, caller: viewer, stopped: bool = False) -> builtins.list[WorkerInfo]:
    """The workers that have not stopped, newest first (``stopped``: the latest stopped
    ones too), with what they serve and how many instances each runs."""
    return api.client.workers(stopped=stopped)


class PurgeRequest(Body):
    """``before``: a time ago (``90d``), an ISO 8601 date/time, or epoch seconds."""

    before: str | Annotated[float, Field(ge=0, le=_LAST_MOMENT, allow_inf_nan=False)]
    workflow: str | None = None
    #: False: delete (in batches); true (the default): only count what would go.
    dry_run: bool = True
    #: Accept a workflow name nothing knows.
    force: bool = False
    batch: int = Field(DEFAULT_BATCH, ge=1, le=1_000_000)
    reason: str | None = None
    #: Refused over HTTP: it names a directory on the server (see the route).
    archive_dir: str | None = None


@router.post("/purge", response_model=PurgeReport)
def purge(api: Api, caller: owner, body: PurgeRequest) -> PurgeReport:
    """Delete the instances that ended before ``before`` (active ones are never touched);
    a dry run unless ``dry_run`` is false. Needs an owner token without a workflow scope.
    Archiving is not offered here: ``archive_dir`` would name a directory on the server."""
    caller.unscoped("a purge")
    if body.archive_dir is not None:
        raise InvalidInput(
            "archive_dir names a directory on the API server, so the HTTP API does not take "
            "it; purge with --archive where the database is reachable (without --server), or "
            "purge without an archive"
        )
    _within_the_calendar(body.before, api.client.clock.now())
    return api.client.purge(
        body.before, workflow=body.workflow, dry_run=body.dry_run, force=body.force,
        batch=body.batch, reason=body.reason, by=caller.name,
    )  # fmt: skip


def _within_the_calendar(before: str | float, now: float) -> None:
    """Refuse a ``before`` no date can hold (``99999999999d``): the purge would fail
    turning it into one."""
    try:
        seconds = parse_moment(before, now, "--before") if isinstance(before, str) else before
    except ValueError:
        return  # the purge refuses it, naming the forms it takes (and audits that)
    except OverflowError:  # so many days ago that no date holds it
        seconds = -1.0
    if not 0 <= seconds <= _LAST_MOMENT:
        raise InvalidInput(
            f"--before {before!r} is out of range; give a time ago (90d) or a date after 1970"
        )
