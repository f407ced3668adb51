"""Bearer tokens: created once and shown once, stored hashed, listed, revoked.

A token reads ``dt_<id>_<secret>``: the id is the row's key, public (it is what ``daytwo
tokens list`` shows and ``revoke`` takes); the secret is 32 random bytes of which only the
SHA-256 is stored. A request is authenticated by finding the row by id and comparing the
hash of the secret it sent with :func:`hmac.compare_digest` (constant time, so the
comparison leaks nothing of the stored hash). Every create and revoke is audited.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from daytwo._errors import DaytwoError, InvalidInput
from daytwo._moments import parse_ago
from daytwo.api._roles import Role
from daytwo.api._tables import api_tokens
from daytwo.api._vocabulary import ApiAction
from daytwo.store import AuditEntry, AuditTarget, Store, append_audit

__all__ = ["NewToken", "Token", "TokenNotFound", "Tokens", "parse_expiry"]

_PREFIX = "dt_"
_TOKEN = re.compile(r"^dt_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


class TokenNotFound(DaytwoError, LookupError):
    """No token has the given id (or it was revoked already)."""


@dataclass(frozen=True)
class Token:
    """A token as stored (never its secret)."""

    id: str
    name: str
    role: Role
    #: The workflows it is limited to; None: every workflow.
    workflows: tuple[str, ...] | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: float) -> bool:
        """Not revoked and not expired at ``now`` (epoch seconds)."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at.timestamp() > now

    def sees(self, workflow: str) -> bool:
        """True if the token's scope includes ``workflow``."""
        return self.workflows is None or workflow in self.workflows


@dataclass(frozen=True)
class NewToken:
    """A token just created, with the secret that is shown this once."""

    token: Token
    secret: str


def parse_expiry(text: str | None, now: float) -> float | None:
    """``90d`` (from now) as epoch seconds; None or "never": no expiry."""
    if text is None or text.strip().lower() == "never":
        return None
    ago = parse_ago(text)
    if ago is None or ago <= timedelta(0):
        raise InvalidInput(
            f"--expires {text!r} is not a duration; give one like 12h, 30d or 90d (or never)"
        )
    return now + ago.total_seconds()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _token(row: Mapping[Any, Any]) -> Token:
    workflows = None if row["workflows"] is None else tuple(json.loads(row["workflows"]))
    created = _at(row["created_at"])
    assert created is not None
    return Token(
        row["id"], row["name"], Role(row["role"]), workflows, created, row["created_by"],
        _at(row["expires_at"]), _at(row["revoked_at"]),
    )  # fmt: skip


class Tokens:
    """The API tokens of one database (``daytwo tokens ...``; the admin routes)."""

    def __init__(self, store: Callable[[], Store], now: Callable[[], float]) -> None:
        self._store = store
        self._now = now

    def create(
        self,
        name: str,
        role: Role | str,
        *,
        workflows: Sequence[str] | None = None,
        expires: str | None = None,
        by: str,
    ) -> NewToken:
        """A new token; its secret is in the result and nowhere else, ever."""
        if not _NAME.match(name):
            raise InvalidInput(
                f"token name {name!r} is not allowed; use letters, digits and _.@- "
                "(at most 128), e.g. ci or alice@example.com"
            )
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInput(
                f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}"
            ) from None
        scope = None if workflows is None else sorted({w.strip() for w in workflows})
        if scope is not None and (not scope or "" in scope):
            raise InvalidInput(
                "--workflows names no workflow; give names separated by commas "
                "(e.g. order,refund), or leave it out for every workflow"
            )
        now = self._now()
        expires_at = parse_expiry(expires, now)
        token_id = secrets.token_hex(6)
        secret = f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        row = {
            "id": token_id, "name": name, "role": role.value,
            "workflows": None if scope is None else json.dumps(scope),
            "secret_hash": _digest(secret), "created_at": now, "created_by": by,
            "expires_at": expires_at, "revoked_at": None, "revoked_by": None,
        }  # fmt: skip
        entry = AuditEntry(
            by, ApiAction.TOKEN_CREATE, AuditTarget.TOKEN, token_id,
            params={"name": name, "role": role.value, "workflows": scope,
                    "expires_at": expires_at},
        )  # fmt: skip
        with self._store().write() as conn:
            conn.execute(api_tokens.insert().values(row))
            append_audit(conn, entry, now)
        return NewToken(_token(row), secret)

    def list(self, *, revoked: bool = False) -> builtins.list[Token]:
        """The tokens, newest first; ``revoked``: revoked and expired ones too."""
        query = sa.select(api_tokens).order_by(api_tokens.c.created_at.desc())
        if not revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with self._store().read() as conn:
            tokens = [_token(row) for row in conn.execute(query).mappings()]
        now = self._now()
        return tokens if revoked else [t for t in tokens if t.active(now)]

    def revoke(self, token_id: str, *, by: str, reason: str | None = None) -> Token:
        """Revoke a token now: the next request that carries it is refused (401)."""
        now = self._now()
        entry = AuditEntry(by, ApiAction.TOKEN_REVOKE, AuditTarget.TOKEN, token_id, reason)
        with self._store().write() as conn:
            done = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=by)
            )
            if done.rowcount != 1:
                raise TokenNotFound(
                    f"no active token with id {token_id!r}; `daytwo tokens list` shows the "
                    "ids of the active tokens"
                )
            append_audit(conn, entry, now)
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id))
            return _token(row.mappings().one())

    def authenticate(self, presented: str) -> Token | None:
        """The active token whose secret is ``presented``, or None (unknown, wrong,
        expired or revoked: the caller says 401 without saying which)."""
        match = _TOKEN.match(presented)
        if match is None:
            return None
        query = sa.select(api_tokens).where(api_tokens.c.id == match.group(1))
        with self._store().read() as conn:
            row = conn.execute(query).mappings().first()
        # Hash and compare even when there is no row, so timing says nothing of the id.
        stored = row["secret_hash"] if row is not None else "0" * 64
        if not hmac.compare_digest(stored, _digest(presented)) or row is None:
            return None
        token = _token(row)
        return token if token.active(self._now()) else None
