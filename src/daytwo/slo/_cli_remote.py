"""``daytwo --server URL slo status | alerts | stuck``: the same records, from the server.

:class:`RemoteSlo` is the :class:`~daytwo.slo._readers.SloSource` of a command run over
HTTP: it asks the server's ``/v1/slo/...`` routes, which run the same
:class:`~daytwo.slo._readers.SloReader` on the server's objectives, and parses the answers
back into the same records, so the commands print them with the same functions and end
with the same exit codes.
"""

from __future__ import annotations

import builtins
import sys
from typing import TYPE_CHECKING, Any

import daytwo
from daytwo.cli import CliError
from daytwo.slo._alerts import Alert
from daytwo.slo._readers import StatusLine
from daytwo.slo._stuck import StuckInstance

if TYPE_CHECKING:
    from daytwo.api import RemoteClient

__all__ = ["RemoteSlo", "remote_client_of"]

#: What a server without the SLO routes (an app without objectives) is told to do.
_SERVE_WITH_APP = (
    "start it with daytwo serve --app MODULE:APP whose module calls daytwo.slo.register(app, ...)"
)


def remote_client_of(app: daytwo.App) -> RemoteClient | None:
    """The RemoteClient of a command run with ``--server`` (its App is a RemoteApp), else
    None."""
    if "daytwo.api" not in sys.modules:
        return None  # no --server (which imports it); a local command does not pay for FastAPI
    from daytwo.api import RemoteClient

    return app.client if isinstance(app.client, RemoteClient) else None


class RemoteSlo:
    """The SLO records of a daytwo API server (``daytwo serve``)."""

    def __init__(self, client: RemoteClient, *, required: bool = False) -> None:
        self.client = client
        #: Refuse an empty status, as the local command refuses to run without objectives.
        self.required = required

    def _get(self, path: str, into: Any, **params: Any) -> Any:
        try:
            return self.client.call("GET", f"/slo/{path}", into, params=params)
        except daytwo.DaytwoError as exc:
            # The route itself is missing (the error names no daytwo exception): the
            # server's app has no SLO extension.
            if type(exc) is daytwo.DaytwoError and str(exc) == "Not Found":
                raise CliError(
                    f"the server at {self.client.database_url} serves no SLO routes: its app "
                    f"has no objectives; {_SERVE_WITH_APP}"
                ) from None
            raise

    def status(self) -> builtins.list[StatusLine]:
        from daytwo.slo._routes import ObjectiveStatus

        found: list[ObjectiveStatus] = self._get("status", list[ObjectiveStatus])
        if not found and self.required:
            raise CliError(
                f"no objectives to evaluate: the server at {self.client.database_url} has none "
                f"that this token may see; {_SERVE_WITH_APP}, or use a token for their "
                "workflows"
            )
        return [item.line() for item in found]

    def alerts(
        self, *, resolved: bool = False, objective: str | None = None, limit: int = 100
    ) -> builtins.list[Alert]:
        found: list[Alert] = self._get(
            "alerts", list[Alert], all=resolved or None, objective=objective, limit=limit
        )
        return found

    def stuck(
        self, *, workflow: str | None = None, limit: int = 100
    ) -> builtins.list[StuckInstance]:
        found: list[StuckInstance] = self._get(
            "stuck", list[StuckInstance], workflow=workflow, limit=limit
        )
        return found
