"""``daytwo tokens create|list|revoke``: the HTTP API's bearer tokens (needs the database)."""

from __future__ import annotations

from typing import Annotated

import typer

from daytwo.cli._apps import client_app
from daytwo.cli._errors import CliError
from daytwo.cli._options import AppOption, ByOption, DatabaseOption, JsonOption, operator
from daytwo.cli._output import Column, Row, print_json, print_table, short_time

__all__ = ["tokens"]

tokens = typer.Typer(
    name="tokens",
    help="Bearer tokens of the HTTP API (daytwo serve): create (shown once), list, revoke.",
    no_args_is_help=True,
)

TOKEN_COLUMNS = (
    Column("ID"), Column("NAME"), Column("ROLE"), Column("WORKFLOWS", wrap=True),
    Column("EXPIRES"), Column("REVOKED", drop=1), Column("CREATED BY", drop=2),
)  # fmt: skip

_ROLES = "viewer (read), operator (act on instances, tasks, pauses, breakers), owner (also "
_ROLES += "limits and definitions), admin (also tokens)"


@tokens.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Who uses it (the actor).")],
    role: Annotated[str, typer.Option("--role", metavar="ROLE", help=f"One of: {_ROLES}.")],
    workflows: Annotated[
        str | None,
        typer.Option(
            "--workflows", metavar="A,B", help="Limit it to these workflows (default: all)."
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", metavar="DURATION", help="Expires after this long (e.g. 90d)."),
    ] = None,
    json_output: JsonOption = False,
    by: ByOption = None,
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """Create a token and print its secret: this is the only time it is shown."""
    from daytwo.api import Tokens

    app = client_app(ctx, database, app_spec)
    client = app.client
    scope = None if workflows is None else workflows.split(",")
    new = Tokens(lambda: client.store, client.clock.now).create(
        name, role, workflows=scope, expires=expires, by=operator(by)
    )
    if json_output:
        print_json({"token": _row(new.token), "secret": new.secret})
        return
    print(new.secret)
    typer.echo(
        f"token {new.token.id} for {name!r} ({new.token.role}"
        + (f", workflows {','.join(new.token.workflows)}" if new.token.workflows else "")
        + (f", expires {short_time(new.token.expires_at)}" if new.token.expires_at else "")
        + "); the secret above is not shown again",
        err=True,
    )


def _row(token: object) -> dict[str, object]:
    from daytwo.api import Token

    assert isinstance(token, Token)
    return {
        "id": token.id, "name": token.name, "role": str(token.role),
        "workflows": None if token.workflows is None else list(token.workflows),
        "created_at": token.created_at.isoformat(), "created_by": token.created_by,
        "expires_at": None if token.expires_at is None else token.expires_at.isoformat(),
        "revoked_at": None if token.revoked_at is None else token.revoked_at.isoformat(),
    }  # fmt: skip


@tokens.command("list")
def list_tokens(
    ctx: typer.Context,
    revoked: Annotated[
        bool, typer.Option("--revoked", metavar="", help="Also revoked and expired ones.")
    ] = False,
    json_output: JsonOption = False,
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """The tokens (never their secrets), newest first."""
    from daytwo.api import Tokens

    client = client_app(ctx, database, app_spec).client
    found = Tokens(lambda: client.store, client.clock.now).list(revoked=revoked)
    if json_output:
        print_json([_row(t) for t in found])
        return
    if not found:
        typer.echo("no tokens; create one with daytwo tokens create --name NAME --role ROLE")
        return
    table: list[Row] = [
        {
            "ID": t.id,
            "NAME": t.name,
            "ROLE": str(t.role),
            "WORKFLOWS": ",".join(t.workflows) if t.workflows else "all",
            "EXPIRES": short_time(t.expires_at) if t.expires_at else "never",
            "REVOKED": short_time(t.revoked_at),
            "CREATED BY": t.created_by,
        }
        for t in found
    ]
    print_table(TOKEN_COLUMNS, table)


@tokens.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (tokens list).")],
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT", help="Why.")] = None,
    json_output: JsonOption = False,
    by: ByOption = None,
    app_spec: AppOption = None,
    database: DatabaseOption = None,
) -> None:
    """Revoke a token: its next request is refused (401)."""
    from daytwo.api import Tokens

    client = client_app(ctx, database, app_spec).client
    if token_id.startswith("dt_"):
        raise CliError("give the token's id (daytwo tokens list), not its secret")
    token = Tokens(lambda: client.store, client.clock.now).revoke(
        token_id, by=operator(by), reason=reason
    )
    if json_output:
        print_json(_row(token))
        return
    typer.echo(f"revoked token {token.id} ({token.name!r})")
