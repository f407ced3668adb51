"""The ``daytwo`` command line, and what an operations package needs to add commands to it.

A package's CLI (see :class:`CliPlugin`) is built from these public names only: the error
type that maps to the exit codes, the shared options, how a command gets its App, and the
tables and JSON every command prints.
"""

from daytwo.cli._apps import client_app, explicit_database, load_app
from daytwo.cli._errors import CliError, ExitCode
from daytwo.cli._options import (
    FLAG,
    AppOption,
    ByOption,
    DatabaseOption,
    JsonOption,
    LimitOption,
    operator,
)
from daytwo.cli._output import (
    Column,
    Row,
    duration,
    print_json,
    print_table,
    short_time,
    stderr_console,
)
from daytwo.cli._plugins import CliPlugin

__all__ = [
    "FLAG",
    "AppOption",
    "ByOption",
    "CliError",
    "CliPlugin",
    "Column",
    "DatabaseOption",
    "ExitCode",
    "JsonOption",
    "LimitOption",
    "Row",
    "client_app",
    "duration",
    "explicit_database",
    "load_app",
    "main",
    "operator",
    "print_json",
    "print_table",
    "short_time",
    "stderr_console",
]


def main() -> None:
    """Entry point of the ``daytwo`` command (and of ``python -m daytwo``)."""
    import sys

    from daytwo.cli._main import app

    # Text that is not valid Unicode (a lone surrogate stored by a daytwo that accepted it)
    # is shown escaped, as \ud800, instead of ending the command with UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    app(prog_name="daytwo")
