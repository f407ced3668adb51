"""The ``daytwo`` command: global options and the list of commands."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperCommand

import daytwo
from daytwo.cli._demo import demo
from daytwo.cli._errors import EXIT_CODES_HELP, Command, Group
from daytwo.cli._flow import dependencies, pause, pauses, queues, resume
from daytwo.cli._history import history
from daytwo.cli._instances import cancel, list_instances, signal, start, status
from daytwo.cli._nouns import add_nouns
from daytwo.cli._options import DatabaseOption, ServerOption, TokenOption
from daytwo.cli._plugins import PluginGroup
from daytwo.cli._purge import purge
from daytwo.cli._serve import serve
from daytwo.cli._tasks import tasks
from daytwo.cli._tokens import tokens

__all__ = ["app", "use_daytwo_classes"]

app = typer.Typer(
    cls=PluginGroup,
    name="daytwo",
    help="daytwo: durable workflows with their operations built in.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        print(f"daytwo {daytwo.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    database: DatabaseOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            metavar="",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """daytwo: durable workflows with their operations built in."""
    ctx.obj = {"database": database, "server": server, "token": token}


app.command("start")(start)
app.command("status")(status)
app.command("list")(list_instances)
app.command("history")(history)
app.command("signal")(signal)
app.command("cancel")(cancel)
app.add_typer(tasks)
app.add_typer(queues)
app.command("pause")(pause)
app.command("resume")(resume)
app.command("pauses")(pauses)
app.add_typer(dependencies)
app.command("demo")(demo)
app.command("purge")(purge)
app.command("serve")(serve)
app.add_typer(tokens)

# -- the NOUN VERB grammar (cli/_nouns.py); the commands above are kept as older spellings
add_nouns(app)


def use_daytwo_classes(typer_app: typer.Typer) -> None:
    """Every command and group of ``typer_app`` is built as a daytwo Command or Group."""
    for command in typer_app.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = Command
    for group in typer_app.registered_groups:
        own = None if group.typer_instance is None else group.typer_instance.info.cls
        # A group of its own kind (daytwo bulk) keeps it.
        group.cls = own if isinstance(own, type) and issubclass(own, Group) else Group
        if group.typer_instance is not None:
            use_daytwo_classes(group.typer_instance)


use_daytwo_classes(app)
