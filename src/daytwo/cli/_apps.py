"""Getting the App a command works on: a plain client, or the user's app from MODULE:APP."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

import daytwo
from daytwo.cli._errors import CliError, ExitCode

__all__ = ["DATABASE_ENV", "client_app", "database_option", "load_app"]

DATABASE_ENV = "DAYTWO_DATABASE"


def database_option(ctx: typer.Context, given: str | None, *, use_env: bool = True) -> str | None:
    """The database URL the user asked for: the command's ``--database``, else the global
    one (``daytwo --database URL COMMAND``), else ``$DAYTWO_DATABASE``, else None."""
    if given:
        return given
    options = ctx.find_root().obj
    if isinstance(options, dict) and options.get("database"):
        return str(options["database"])
    return (os.environ.get(DATABASE_ENV) or None) if use_env else None


def client_app(url: str | None) -> daytwo.App:
    """An App with no workflows, for commands that only read or signal instances.

    Refuses a SQLite file that does not exist instead of creating an empty database: a
    misspelt path would otherwise show "no instances" rather than the mistake.
    """
    app = daytwo.App(url)
    _require_existing_sqlite_file(app.database_url)
    return app


def _require_existing_sqlite_file(url: str) -> None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # the engine explains malformed URLs when it opens the store
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database).expanduser()
    if not path.exists():
        raise CliError(
            f"no database at {str(path)!r} ({url}); check --database / ${DATABASE_ENV}, "
            "or start an instance first to create it",
            ExitCode.DATABASE,
        )


def load_app(spec: str | None, database: str | None) -> daytwo.App:
    """Import ``MODULE:APP`` (from the current directory too, like ``python -m``).

    A ``database`` given on the command line (or by ``$DAYTWO_DATABASE``) replaces the
    URL the app was created with.
    """
    if not spec:
        raise CliError(
            "this command needs your workflow code: pass --app MODULE:APP "
            "(or set $DAYTWO_APP), e.g. --app examples.orders:app"
        )
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(
            f"{spec!r} is not MODULE:APP; name the module and the App object in it, "
            "e.g. examples.orders:app"
        )
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
            f"{spec} is a {type(app).__name__}, not a daytwo.App; point --app at the object "
            "created with daytwo.App(...)"
        )
    if database and database != app.database_url:
        if getattr(app, "_store", None) is not None:
            raise CliError(
                f"{spec} opened its database ({app.database_url}) while being imported, so "
                f"--database {database} cannot replace it; do not use the app at import time"
            )
        app.database_url = database
    return app


def _import(module_name: str) -> object:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise CliError(
                f"cannot import module {module_name!r}: {exc}; run daytwo from the directory "
                "that contains it, or install it"
            ) from None
        raise CliError(f"importing {module_name!r} failed: {exc}") from None
    except daytwo.DaytwoError as exc:
        raise CliError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise CliError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
