"""The extension contract: how an operations package plugs into an App.

An operations package (``daytwo.slo`` today; incidents, runbooks, change control and the
HTTP API next) brings up to seven things, and this is the one place each is asked for:

* **tables**: the package's own ``_tables.py`` on :data:`daytwo.store.metadata`, created by
  its Alembic branch (see ``store/_migrate.py``); every daytwo database has every installed
  package's tables, so a Client without workflow code opens any database;
* **system workflows and steps** (:meth:`Extension.attach`): registered on the app like a
  user's and run by the same workers on the same engine (dogfood);
* **background services** (:meth:`Extension.services`): what every worker of the app runs
  for the package, whether started by ``daytwo worker`` or ``app.worker()`` from Python;
  cluster singletons coordinate through :func:`daytwo.store.acquire_lease`;
* **reactions** (:meth:`Extension.subscribers`): outbox subscribers, each delivered by
  the app's workers in order, at least once, one worker at a time (``daytwo.worker``'s
  ``OutboxDelivery``): how packages react to each other (an alert fired, an instance that
  ended badly) without calling each other;
* **/metrics collectors** (:meth:`Extension.collectors`): Prometheus collectors that every
  /metrics endpoint of the app serves;
* **HTTP routes** (:meth:`Extension.routes`): FastAPI routers the HTTP API (``daytwo
  serve``) mounts under ``/v1``, behind the same tokens and roles, and those it mounts at the
  root (:meth:`Extension.root_routes`: receivers whose paths other systems are configured
  with, such as ``/ingest/alertmanager``);
* **a CLI group** (``daytwo NOUN ...``): a :class:`daytwo.cli.CliPlugin` named by an entry
  point in the ``daytwo.cli`` group, loaded only when its command runs (the CLI's group
  has to exist before any app is imported, so it is per package, not per App).

The engine, the store and the worker know nothing of any package: the App asks its
extensions and hands the worker plain services.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from daytwo.app import App
    from daytwo.worker import BackgroundService, OutboxSubscriber

__all__ = ["Extension"]


class Extension:
    """Base class of an operations package's plug-in; override what the package brings.

    One instance belongs to one App (``App(extensions=[...])`` or :meth:`App.use`), which
    calls :meth:`attach` once. ``name`` identifies the package (one extension of a name
    per app).
    """

    name: ClassVar[str] = ""

    def attach(self, app: App) -> None:
        """Join ``app``: keep what the services need, register system workflows on it."""

    def services(self) -> Sequence[BackgroundService]:
        """The background services a worker of the app runs for this package (asked at
        every worker start, so they reflect what was registered until then)."""
        return ()

    def subscribers(self) -> Sequence[OutboxSubscriber]:
        """Outbox subscribers the app's workers deliver events to (a new subscriber starts
        at the oldest event kept, so it misses nothing)."""
        return ()

    def collectors(self) -> Sequence[Any]:
        """Prometheus collectors (``prometheus_client`` ``Collector``) /metrics serves."""
        return ()

    def routes(self) -> Sequence[Any]:
        """FastAPI ``APIRouter`` objects the HTTP API mounts under ``/v1`` (``daytwo.api``), with
        the API's tokens: a route declares the role it needs with ``daytwo.api.viewer``,
        ``operator``, ``owner`` or ``admin``."""
        return ()

    def root_routes(self) -> Sequence[Any]:
        """FastAPI ``APIRouter`` objects mounted at the root, outside ``/v1``: endpoints whose
        paths other systems know (Alertmanager's webhook receiver, PagerDuty's events), with
        the same tokens and roles as every route."""
        return ()

    def close(self) -> None:
        """Release what :meth:`attach` or the services opened (the app is closing)."""
