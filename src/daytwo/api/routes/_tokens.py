"""Tokens (admin): create (the secret is in this one response), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter

from daytwo.api._auth import admin
from daytwo.api._models import Body
from daytwo.api._roles import Role
from daytwo.api._tokens import Token
from daytwo.api.routes._common import Api

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenRequest(Body):
    name: str
    role: Role
    workflows: list[str] | None = None
    #: A duration from now (90d); None: never expires.
    expires: str | None = None


class CreatedToken(Body):
    token: Token
    #: The bearer secret: shown this once, stored only as a hash.
    secret: str


@router.get("", response_model=list[Token])
def list_tokens(api: Api, caller: admin, revoked: bool = False) -> list[Token]:
    """The active tokens (``revoked``: expired and revoked ones too), newest first."""
    return api.tokens.list(revoked=revoked)


@router.post("", response_model=CreatedToken, status_code=201)
def create_token(api: Api, caller: admin, body: TokenRequest) -> CreatedToken:
    """A new token; its secret is in this response and nowhere else."""
    new = api.tokens.create(
        body.name, body.role, workflows=body.workflows, expires=body.expires, by=caller.name
    )
    return CreatedToken(token=new.token, secret=new.secret)


class RevokeRequest(Body):
    reason: str | None = None


@router.post("/{token_id}/revoke", response_model=Token)
def revoke_token(api: Api, caller: admin, token_id: str, body: RevokeRequest) -> Token:
    """Revoke a token now (its next request is a 401)."""
    return api.tokens.revoke(token_id, by=caller.name, reason=body.reason)
