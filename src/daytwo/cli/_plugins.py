"""The CLI half of the extension contract: command groups and worker options of packages.

An operations package names a :class:`CliPlugin` in the ``daytwo.cli`` entry-point group of
its distribution (daytwo's own packages in daytwo's ``pyproject.toml``)::

    [project.entry-points."daytwo.cli"]
    slo = "daytwo.slo._cli:plugin"

Plugins are loaded lazily: ``daytwo list`` imports none, ``daytwo slo status`` imports the
one that owns ``slo``, ``daytwo --help`` and ``daytwo worker`` import them all (the worker
command takes the packages' options). So a package's import cost (Pydantic for
``daytwo.slo``) is paid only by the commands that need it.

A plugin's ``daytwo worker`` options are the parameters of a function, annotated like any
Typer command's; :func:`worker_command` builds the command from the worker's own
parameters and theirs, so help, validation and errors are Typer's as for every option.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from daytwo.cli._errors import ErrorReportingGroup

if TYPE_CHECKING:
    from daytwo.app import App

__all__ = [
    "ENTRY_POINT_GROUP",
    "CliPlugin",
    "PluginGroup",
    "configure_serve",
    "configure_worker",
    "installed_plugins",
    "plugin_named",
]

log = logging.getLogger("daytwo.cli")

ENTRY_POINT_GROUP = "daytwo.cli"

#: ``configure_worker(app, values)``: apply the plugin's worker options (``values`` by
#: parameter name) to ``app`` before its worker is built; returns phrases for the start-up
#: line ("SLO evaluation every 60 s").
ConfigureWorker = Callable[["App", Mapping[str, Any]], Sequence[str]]
#: ``configure_serve(app)``: prepare ``app`` for ``daytwo serve`` (add the package's
#: extension, so that its routes are served for an app given without code); returns
#: phrases for the start-up line.
ConfigureServe = Callable[["App"], Sequence[str]]


@dataclass(frozen=True)
class CliPlugin:
    """What one operations package adds to the ``daytwo`` command.

    ``groups``: Typer apps added as ``daytwo NAME ...`` (each needs a name);
    ``worker_options``: a function whose parameters (Typer-annotated, with defaults) are
    added to ``daytwo worker`` as options; their values are handed to
    ``configure_worker`` with the app the worker will run.
    """

    groups: Sequence[typer.Typer] = ()
    worker_options: Callable[..., None] | None = None
    configure_worker: ConfigureWorker | None = None
    configure_serve: ConfigureServe | None = None
    #: Filled in by :func:`installed_plugins`: the entry point's name.
    name: str = field(default="", compare=False)


@cache
def installed_plugins() -> tuple[CliPlugin, ...]:
    """Every installed plugin, in entry-point name order (see :func:`plugin_named`)."""
    names = sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})
    return tuple(p for p in map(plugin_named, names) if p is not None)


@cache
def plugin_named(name: str) -> CliPlugin | None:
    """The plugin of the entry point ``name`` (importing only its module), None if there is
    none; one that fails to load is skipped with a warning (a broken add-on must not take
    the whole command line down)."""
    for point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            plugin = point.load()
        except Exception as exc:
            log.warning("daytwo CLI plugin %r (%s) failed to load: %s", name, point.value, exc)
            return None
        if not isinstance(plugin, CliPlugin):
            log.warning("daytwo CLI plugin %r (%s) is not a CliPlugin", name, point.value)
            return None
        return replace(plugin, name=name)
    return None


class PluginGroup(ErrorReportingGroup):
    """The root ``daytwo`` group: built-in commands, plus the groups of installed plugins.

    A plugin's group is looked up by its entry-point name first (``daytwo slo`` loads the
    ``slo`` plugin only), so a package should name its entry point after its main group.
    ``daytwo worker`` is built when it is asked for, with every plugin's options.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        names = {*super().list_commands(ctx), "worker"}
        for plugin in installed_plugins():
            names.update(group.info.name or "" for group in plugin.groups)
        names.discard("")
        return sorted(names)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        if cmd_name == "worker":
            return worker_command()
        owner = plugin_named(cmd_name)
        candidates = [owner] if owner is not None else list(installed_plugins())
        for plugin in candidates:
            for group in plugin.groups:
                if group.info.name == cmd_name:
                    return _as_click(group)
        return None


def _as_click(group: typer.Typer) -> TyperGroup:
    from daytwo.cli._main import use_daytwo_classes

    use_daytwo_classes(group)
    return typer.main.get_group(group)


#: Where ``daytwo worker`` finds the plugins' option values (``ctx.meta`` key).
WORKER_OPTIONS = "daytwo.plugin_worker_options"


@cache
def worker_command() -> Any:
    """``daytwo worker``: the worker's own options and every plugin's."""
    from daytwo.cli._errors import Command
    from daytwo.cli._worker import worker

    own = inspect.signature(worker, eval_str=True)
    parameters = list(own.parameters.values())
    taken = {p.name for p in parameters}
    plugin_names: list[str] = []
    for plugin in installed_plugins():
        if plugin.worker_options is None:
            continue
        for parameter in inspect.signature(
            plugin.worker_options, eval_str=True
        ).parameters.values():
            if parameter.name in taken:
                log.warning("daytwo CLI plugin %r: worker option %r is taken; skipped",
                            plugin.name, parameter.name)  # fmt: skip
                continue
            taken.add(parameter.name)
            plugin_names.append(parameter.name)
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    def command(**values: Any) -> None:
        ctx = values["ctx"]
        ctx.meta[WORKER_OPTIONS] = {name: values.pop(name) for name in plugin_names}
        worker(**values)

    command.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = worker.__doc__
    command.__name__ = "worker"
    single = typer.Typer(add_completion=False, rich_markup_mode="markdown")
    single.command("worker", cls=Command)(command)
    return typer.main.get_command(single)


def configure_serve(app: App) -> list[str]:
    """Let each plugin prepare ``app`` for ``daytwo serve``; the phrases they return."""
    notes: list[str] = []
    for plugin in installed_plugins():
        if plugin.configure_serve is not None:
            notes += plugin.configure_serve(app)
    return notes


def configure_worker(ctx: typer.Context, app: App) -> list[str]:
    """Hand each plugin its ``daytwo worker`` option values; the phrases they return."""
    values: Mapping[str, Any] = ctx.meta.get(WORKER_OPTIONS, {})
    notes: list[str] = []
    for plugin in installed_plugins():
        if plugin.configure_worker is None or plugin.worker_options is None:
            continue
        names = inspect.signature(plugin.worker_options).parameters
        notes += plugin.configure_worker(app, {n: values.get(n) for n in names})
    return notes
