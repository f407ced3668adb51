"""``daytwo owners check | apply | show``: the ownership registry on the command line.

``check`` and ``apply`` read an ``ownership.yaml``; ``apply`` and ``show`` work on the
database (``--database``, ``$DAYTWO_DATABASE`` or the ``--app``'s). None of them runs over
``--server`` yet (``POST /v1/owners`` and ``GET /v1/owners`` are the HTTP way).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import typer

from daytwo.cli import (
    AppOption,
    ByOption,
    Column,
    DatabaseOption,
    JsonOption,
    Row,
    client_app,
    operator,
    print_json,
    print_table,
    stderr_console,
)
from daytwo.incidents._ownership import load_ownership
from daytwo.incidents._registry import NoOwnershipApplied, apply, latest, version_info
from daytwo.incidents._vocabulary import RaciRole, Severity
from daytwo.store import NoDatabase, Store, instances

if TYPE_CHECKING:
    pass

__all__ = ["owners_commands"]

owners_commands = typer.Typer(
    name="owners",
    help="The ownership registry (ownership.yaml): check, apply and show who owns what.",
    no_args_is_help=True,
)

FileArgument = Annotated[
    Path, typer.Argument(metavar="FILE", help="The ownership file (ownership.yaml).")
]


def _warn(text: str) -> None:
    stderr_console().print(f"warning: {text}")


def _known_workflows(store: Store) -> list[str]:
    query = sa.select(instances.c.workflow).distinct()
    with store.read() as conn:
        return sorted(str(name) for name in conn.execute(query).scalars())


@owners_commands.command("check")
def check(
    ctx: typer.Context,
    file: FileArgument,
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """Validate FILE (errors as file:line: field: message); warn of workflows without an owner.

    The workflows checked: those of --app, and those with instances in the database.
    """
    ownership = load_ownership(file)
    print(
        f"{file}: valid ({len(ownership.workflows)} workflow(s), "
        f"{len(ownership.dependencies)} dependency(ies))"
    )
    workflows: set[str] = set()
    try:
        app = client_app(ctx, database, app_spec)
        if app_spec:
            workflows.update(app.registry.workflows)
        workflows.update(_known_workflows(app.store))
    except NoDatabase:
        if app_spec:  # the app's workflows without a database
            from daytwo.cli import load_app

            workflows.update(load_app(app_spec, None, create=False).registry.workflows)
    missing = ownership.unowned(workflows)
    if missing:
        _warn(
            f"workflows without an owner in {file}: {', '.join(missing)} (give each a "
            "business_owner and an it_team under workflows:)"
        )


@owners_commands.command("apply")
def apply_file(
    ctx: typer.Context,
    file: FileArgument,
    by: ByOption = None,
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """Validate FILE and put it in force as a new version (the same content: unchanged)."""
    ownership = load_ownership(file)
    app = client_app(ctx, database, app_spec)
    store = app.store
    version, created = apply(
        store, ownership, source=str(file), by=operator(by), now=app.clock.now()
    )
    print(f"ownership version {version} applied" if created else f"unchanged (version {version})")
    if app_spec:
        missing = ownership.unowned(app.registry.workflows)
        if missing:
            _warn(f"workflows without an owner: {', '.join(missing)}")


@owners_commands.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="[WORKFLOW_OR_DEPENDENCY]",
            help="Who is R, A, C and I for it at each severity (default: every entry).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """The ownership version in force: its entries, or one entry's RACI per severity."""
    app = client_app(ctx, database, app_spec, lookup="ownership registry")
    current = latest(app.store)
    if current is None:
        raise NoOwnershipApplied()
    version, ownership = current
    if name is None:
        info = version_info(app.store, version)
        if json_output:
            print_json({**info.to_json(), "entries": ownership.summary()})
        else:
            _print_entries(ownership.summary(), info.version, info.source)
        return
    view = ownership.view(name)
    if json_output:
        print_json({"version": version, **view})
    else:
        _print_view(view, version)


ENTRY_COLUMNS = (
    Column("NAME"),
    Column("KIND"),
    Column("CRITICALITY"),
    Column("BUSINESS OWNER"),
    Column("IT TEAM"),
    Column("VENDOR", drop=2),
    Column("ESCALATION", drop=1),
)


def _print_entries(entries: list[dict[str, Any]], version: int, source: str | None) -> None:
    rows: list[Row] = [
        {
            "NAME": e["name"],
            "KIND": e["kind"],
            "CRITICALITY": e["criticality"],
            "BUSINESS OWNER": e["business_owner"] or "-",
            "IT TEAM": e["it_team"] or "-",
            "VENDOR": e["vendor"] or "-",
            "ESCALATION": e["escalation_policy"] or "-",
        }
        for e in entries
    ]
    origin = f" from {source}" if source else ""
    print_table(
        ENTRY_COLUMNS, rows, caption=f"ownership version {version}{origin}: {len(rows)} entry(ies)"
    )


RACI_COLUMNS = (
    Column("SEVERITY"),
    Column("R (responsible)", wrap=True),
    Column("A (accountable)", wrap=True),
    Column("C (consulted)", wrap=True),
    Column("I (informed)", wrap=True),
)


def _print_view(view: dict[str, Any], version: int) -> None:
    print(f"{view['name']} ({view['kind']}, criticality {view['criticality']})")
    vendor = view["vendor"]
    if vendor is not None:
        parts = [vendor["name"]]
        parts += [f"contact {vendor['contact']}"] if vendor["contact"] else []
        parts += [f"SLA {vendor['sla']}"] if vendor["sla"] else []
        parts += [f"status {vendor['status_url']}"] if vendor["status_url"] else []
        print(f"vendor: {'; '.join(parts)}")
    print(f"escalation policy: {view['escalation_policy'] or '-'}")
    print(f"runbooks: {', '.join(view['runbooks']) or '-'}")
    headers = {role: c.header for role, c in zip(RaciRole, RACI_COLUMNS[1:], strict=True)}
    rows: list[Row] = []
    for severity in Severity:
        raci = view["raci"][str(severity)]
        row: dict[str, str] = {"SEVERITY": str(severity)}
        for role in RaciRole:
            row[headers[role]] = ", ".join(raci[str(role)]) or "-"
        rows.append(row)
    print_table(RACI_COLUMNS, rows, caption=f"ownership version {version}")
