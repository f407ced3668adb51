"""Getting the Client (or App) a command works on, and so its database.

One rule for which database (README "Which database"): ``--database`` (on the command or
before it), else ``$DAYTWO_DATABASE``, else the URL the App named by ``--app`` /
``$DAYTWO_APP`` was given in code, else ``sqlite:///daytwo.db``. The App applies the middle
two itself (``daytwo.App``), so the command line only has to put ``--database`` on top.

Commands meant to create a database (``worker``, ``start --app``, ``demo``) may create
daytwo's tables; every other command opens an existing daytwo database and changes nothing
else. Without ``--app`` a command works through a :class:`daytwo.Client`, which needs no
workflow code (``start`` then takes the workflow's defaults from the workers'
registrations).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import typer

import daytwo
from daytwo.cli._errors import CliError, ExitCode
from daytwo.store import DATABASE_ENV, NoDatabase, absolute_url

__all__ = [
    "DATABASE_ENV",
    "client_app",
    "explicit_database",
    "load_app",
    "open_client",
    "over_http",
    "remote_client",
]


def explicit_database(ctx: typer.Context, given: str | None) -> str | None:
    """The URL given on the command line: the command's ``--database``, else the global one
    (``daytwo --database URL COMMAND``), else None (``$DAYTWO_DATABASE`` and the app's own
    URL are applied by the App)."""
    if given:
        return given
    options = ctx.find_root().obj
    if isinstance(options, dict) and options.get("database"):
        return str(options["database"])
    return None


def client_app(
    ctx: typer.Context,
    database: str | None,
    app_spec: str | None = None,
    *,
    lookup: str | None = None,
    remote: bool = False,
) -> daytwo.App:
    """The App of a command that reads or acts on an existing daytwo database and needs an
    App (the SLO commands: objectives hang on it); the others use :func:`open_client`.

    With ``app_spec`` (``--app`` or ``$DAYTWO_APP``) the user's App, for its database URL
    (and its workflows); else a plain App that may not create a database. ``lookup``: see
    :func:`open_client`.

    ``remote``: the command can run over ``--server`` too; then the App is a
    ``RemoteApp`` (``daytwo/api/_remote_app.py``; no code, no database: ``app.client`` is the
    :class:`~daytwo.api.RemoteClient`, whose ``call`` reaches the server's routes, e.g.
    ``daytwo slo status``). Without it a command refuses ``--server``.
    """
    url = explicit_database(ctx, database)
    if _server(ctx) is not None:
        if not remote:
            raise CliError(
                f"`daytwo {ctx.command_path.partition(' ')[2]}` is not available over --server "
                "yet; run it where the database is reachable"
            )
        from daytwo.api import RemoteApp, RemoteClient

        client = remote_client(ctx, url)
        assert isinstance(client, RemoteClient)
        return RemoteApp(client)
    if app_spec:
        app = load_app(app_spec, url, create=False)
    else:
        app = daytwo.App(create=False)
        if url:
            app.database_url = url
    _open(app.client, lookup)
    return app


def open_client(
    ctx: typer.Context,
    database: str | None,
    app_spec: str | None = None,
    *,
    lookup: str | None = None,
) -> daytwo.Client:
    """The Client of a command that reads or acts on an existing daytwo database.

    With ``app_spec`` (``--app`` or ``$DAYTWO_APP``) the client of the user's App, for its
    database URL and its code's names; else a :class:`daytwo.Client`, which needs no code.
    The database is opened here: a missing or empty one is refused instead of created, so
    a misspelt path shows the mistake rather than "no instances". ``lookup`` names what the
    command looks up ("instance 'x'"): with no database at all, that is "not found" (exit 3).
    """
    url = explicit_database(ctx, database)
    remote = remote_client(ctx, url)
    if remote is not None:
        return remote
    if app_spec:
        client = load_app(app_spec, url, create=False).client
    else:
        client = daytwo.Client()
        if url:
            client.database_url = url
    _open(client, lookup)
    return client


def _server(ctx: typer.Context) -> tuple[str, str | None] | None:
    options = ctx.find_root().obj
    if isinstance(options, dict) and options.get("server"):
        return str(options["server"]), options.get("token")
    return None


def over_http(ctx: typer.Context) -> bool:
    """True when the command runs over the HTTP API (``--server`` or ``$DAYTWO_SERVER``):
    then ``--app`` is not loaded here (the server has its own code, and checks inputs with
    it), and the command's Client is a remote one."""
    return _server(ctx) is not None


def remote_client(ctx: typer.Context, database: str | None) -> daytwo.Client | None:
    """With ``--server`` (or ``$DAYTWO_SERVER``): a :class:`daytwo.api.RemoteClient` for it,
    which runs the command's Client calls over HTTP; else None."""
    server = _server(ctx)
    if server is None:
        return None
    if database:
        raise CliError(
            "--database and --server both given; a command runs either on a database or over "
            "the HTTP API, so give one of them"
        )
    from daytwo.api import RemoteClient

    url, token = server
    if not token:
        raise CliError(
            "--server needs a token: pass --token or set $DAYTWO_TOKEN (create one with "
            "daytwo tokens create on a machine with database access)"
        )
    return RemoteClient(url, token)


def _open(client: daytwo.Client, lookup: str | None) -> None:
    try:
        client.store  # noqa: B018 -- opening it now reports a missing database here
    except NoDatabase as exc:
        if lookup is None:
            raise
        raise CliError(f"no {lookup}: {exc}", ExitCode.NOT_FOUND) from None


def load_app(spec: str | None, database: str | None, *, create: bool = True) -> daytwo.App:
    """Import ``MODULE:APP`` or ``path/to/file.py:APP`` (modules from the current directory
    too, like ``python -m``).

    ``database`` (the command line's ``--database``) replaces the URL the app chose;
    ``create=False`` for commands that must not create daytwo's tables.
    """
    if not spec:
        raise CliError(
            "this command needs your workflow code: pass --app MODULE:APP "
            "(or set $DAYTWO_APP), e.g. --app orders:app or --app path/to/orders.py:app"
        )
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        raise CliError(
            f"{spec!r} is not MODULE:APP; name the module (or its .py file) and the App "
            "object in it, e.g. orders:app or path/to/orders.py:app"
        )
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        module = _import_file(Path(module_name))
        module_name = module.__name__
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = _import(module_name)
    if not hasattr(module, attribute):
        apps = sorted(n for n, v in vars(module).items() if isinstance(v, daytwo.App))
        hint = f"; daytwo Apps in it: {', '.join(apps)}" if apps else ""
        raise CliError(f"module {module_name!r} has no attribute {attribute!r}{hint}")
    app = getattr(module, attribute)
    if not isinstance(app, daytwo.App):
        raise CliError(
            f"{spec} is an object of type {type(app).__name__}, not a daytwo.App; point "
            "--app at the object created with daytwo.App(...)"
        )
    opened = app.database_opened
    if database:
        if opened and absolute_url(database, Path.cwd()) != app.database_url:
            raise CliError(
                f"{spec} opened its database while being imported, so --database cannot "
                "replace it; do not use the app at import time"
            )
        if not opened:
            app.database_url = database
    if not opened:
        app.create = app.create and create  # a command may forbid creating, not allow it
    return app


def _import_file(path: Path) -> ModuleType:
    """Import the module in the file ``path``, with its directory on ``sys.path`` so that
    it imports its neighbours as it would when run from there."""
    file = path.expanduser().resolve()
    if not file.is_file():
        raise CliError(f"no file {str(file)!r}; give the path of the module that holds the App")
    directory = str(file.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module = _import(file.stem)
    loaded = getattr(module, "__file__", None)
    if loaded is None or Path(loaded).resolve() != file:
        raise CliError(
            f"module {file.stem!r} is already imported from {loaded!r}, not {str(file)!r}; "
            "rename the file or use --app MODULE:APP"
        )
    return module


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise CliError(
                f"cannot import module {module_name!r}: {exc}; run daytwo from the directory "
                "that contains it, give its file (--app path/to/orders.py:app), or install it"
            ) from None
        raise CliError(f"importing {module_name!r} failed: {exc}") from None
    except daytwo.DaytwoError as exc:
        raise CliError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise CliError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
