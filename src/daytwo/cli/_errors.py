"""Exit codes and the one place where errors become ``error: <message>`` and an exit code."""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import Any

import sqlalchemy.exc
import typer
from typer.core import TyperCommand, TyperGroup

import daytwo
from daytwo._errors import one_line
from daytwo.store import InvalidDatabaseUrl

__all__ = [
    "EXIT_CODES_HELP",
    "CliError",
    "Command",
    "ErrorReportingGroup",
    "ExitCode",
    "Group",
    "exit_code_for",
    "report",
]


class ExitCode(IntEnum):
    """Exit codes of the ``daytwo`` command; scripts may rely on them."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    NOT_FOUND = 3
    DATABASE = 4
    NOT_ALLOWED = 5
    #: The id names an instance started with another workflow, version or input.
    CONFLICT = 6
    #: ``daytwo start --wait`` gave up waiting; the instance goes on.
    TIMEOUT = 7
    #: Over HTTP (``--server``): no token, a bad one, or one whose role or workflow scope
    #: does not allow the command.
    DENIED = 8


EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 the operation failed (e.g. the instance ended badly); "
    "2 bad usage or input (a malformed or unsupported --database URL too); 3 instance or "
    "task not found (also when there is no database at all); 4 no usable database "
    "(unreachable, missing, not daytwo's, or made by a newer daytwo); 5 not allowed in the "
    "instance's or task's current state; 6 the id is taken by a different request; "
    "7 --wait timed out (the instance goes on); 8 the server refused the token (--server)."
)


class CliError(Exception):
    """An error found by the command line itself, with the exit code it ends with."""

    def __init__(self, message: str, code: ExitCode = ExitCode.BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(error: BaseException) -> ExitCode | None:
    """The exit code of an expected error, or None for a bug (which keeps its traceback)."""
    match error:
        case CliError():
            return error.code
        case InvalidDatabaseUrl():
            return ExitCode.BAD_INPUT
        case daytwo.InstanceNotFound() | daytwo.TaskNotFound() | daytwo.ScheduleNotFound():
            return ExitCode.NOT_FOUND
        case sqlalchemy.exc.DataError():  # a value the database cannot hold: bad input
            return ExitCode.BAD_INPUT
        case daytwo.StoreUnavailable() | sqlalchemy.exc.DatabaseError():
            return ExitCode.DATABASE
        case daytwo.NotRunnable():
            return ExitCode.NOT_ALLOWED
        case daytwo.InstanceConflict():
            return ExitCode.CONFLICT
        case _ if type(error).__name__ in ("Unauthorized", "Forbidden"):
            # daytwo.api's refusals (not imported here: most commands never load the API).
            return ExitCode.DENIED
        case daytwo.InvalidInput() | daytwo.WorkflowNotFound() | daytwo.SerializationError():
            return ExitCode.BAD_INPUT
        case LookupError() if isinstance(error, daytwo.DaytwoError):
            return ExitCode.NOT_FOUND
        case daytwo.DaytwoError():
            return ExitCode.FAILED
    return None


def report(error: BaseException, code: ExitCode) -> typer.Exit:
    """Print ``error: <message>`` as one line on stderr; return the Exit to raise."""
    print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
    return typer.Exit(int(code))


def _flag_help_option(option: Any) -> Any:
    # Recent Typer versions show a flag without a metavar as "--help <bool>"; a flag takes
    # no value, so it shows none.
    if option is not None:
        option.metavar = ""
    return option


class Command(TyperCommand):
    """A daytwo command (its --help shows no value placeholder)."""

    def get_help_option(self, ctx: Any) -> Any:
        """The --help option, shown as the flag it is."""
        return _flag_help_option(super().get_help_option(ctx))


class Group(TyperGroup):
    """A daytwo command group (its --help shows no value placeholder)."""

    def get_help_option(self, ctx: Any) -> Any:
        """The --help option, shown as the flag it is."""
        return _flag_help_option(super().get_help_option(ctx))


class ErrorReportingGroup(Group):
    """The root command group: turns expected errors of any subcommand into exit codes."""

    def invoke(self, ctx: Any) -> Any:
        """Run the subcommand; report expected errors in one line instead of a traceback."""
        try:
            return super().invoke(ctx)
        except (CliError, daytwo.DaytwoError, sqlalchemy.exc.DatabaseError) as e:
            code = exit_code_for(e)
            if code is None:
                raise
            raise report(e, code) from None
