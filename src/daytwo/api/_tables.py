"""The API package's table, on the store's shared metadata (created by the ``api``
migration branch, ``api/migrations/``)."""

from __future__ import annotations

from sqlalchemy import Column, Double, Index, String, Table, Text

from daytwo.store import metadata

__all__ = ["api_tokens"]

#: Bearer tokens. The secret is never stored: ``secret_hash`` is its SHA-256 (a token's
#: secret is 32 random bytes, so a fast hash is enough; a slow one would only slow every
#: request). ``id`` is the public half of the token (``dt_<id>_<secret>``), so a request
#: finds its row by key and compares one hash in constant time.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    #: JSON list of workflow names the token is limited to; NULL: every workflow.
    Column("workflows", Text, nullable=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
    Column("revoked_by", String(128), nullable=True),
    Index("ix_api_tokens_name", "name"),
)
