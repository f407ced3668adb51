"""Who is calling: the bearer token of a request, its role and its workflow scope.

Routes declare what they need with a dependency (``Depends(viewer)``, ``operator``,
``owner``, ``admin``) and get the :class:`Caller`; a route about one workflow's things
also asks :meth:`Caller.may_see` of that workflow. A refusal (401 or 403) is written to
the audit log before the problem is returned, naming the token (never its secret).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from daytwo.api._problems import Forbidden, Unauthorized
from daytwo.api._roles import Role
from daytwo.api._tokens import Token
from daytwo.api._vocabulary import ApiAction
from daytwo.store import AuditEntry, AuditOutcome, AuditTarget

if TYPE_CHECKING:
    from daytwo.api._context import ApiContext

__all__ = ["Caller", "admin", "authenticate", "context", "operator", "owner", "viewer"]

_bearer = HTTPBearer(auto_error=False, description="A token from `daytwo tokens create`.")


def context(request: Request) -> ApiContext:
    """The API's App, Client and tokens (``app.state.daytwo``)."""
    found: ApiContext = request.app.state.daytwo
    return found


@dataclass(frozen=True)
class Caller:
    """The token a request carries, and what it may do."""

    token: Token
    request: Request

    @property
    def name(self) -> str:
        """Who acts, as the audit log names them: the token's name."""
        return self.token.name

    def may_see(self, workflow: str) -> None:
        """Refuse (403, audited) a request about a workflow outside the token's scope."""
        if not self.token.sees(workflow):
            raise refuse(
                self.request, self.token.name,
                Forbidden(
                    f"token {self.token.name!r} is limited to workflows "
                    f"{', '.join(self.token.workflows or ())}; {workflow!r} is not one of "
                    "them (create a token for it with daytwo tokens create --workflows)"
                ),
            )  # fmt: skip

    def unscoped(self, what: str) -> None:
        """Refuse (403) a scoped token something that is not one workflow's (a queue limit,
        the whole audit log)."""
        if self.token.workflows is not None:
            raise refuse(
                self.request, self.token.name,
                Forbidden(
                    f"token {self.token.name!r} is limited to some workflows; {what} belongs "
                    "to all of them, so it needs a token without --workflows"
                ),
            )  # fmt: skip


def refuse(request: Request, actor: str, error: Unauthorized | Forbidden) -> Exception:
    """Audit a refused request; return the error to raise."""
    entry = AuditEntry(
        actor, ApiAction.REFUSED, AuditTarget.REQUEST,
        f"{request.method} {request.url.path}", outcome=AuditOutcome.REFUSED,
        detail=f"{403 if isinstance(error, Forbidden) else 401}: {error}",
    )  # fmt: skip
    found = context(request)
    found.client.store.record_audit(entry, found.client.clock.now())
    return error


def authenticate(request: Request, secret: str | None, role: Role) -> Caller:
    """The caller of ``request`` whose token is ``secret``, if its role allows ``role``;
    refused (401, 403) and audited otherwise. What every route's role dependency does, for
    routes that receive the token elsewhere than in the header (PagerDuty's routing key)."""
    credentials = (
        None
        if secret is None
        else HTTPAuthorizationCredentials(scheme="Bearer", credentials=secret)
    )
    return _requires(role)(request, credentials)


def _requires(role: Role) -> Callable[..., Caller]:
    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None:
            raise refuse(
                request, "anonymous",
                Unauthorized(
                    "this route needs a token: send Authorization: Bearer <token> (create one "
                    "with daytwo tokens create --name NAME --role ROLE)"
                ),
            )  # fmt: skip
        token = context(request).tokens.authenticate(credentials.credentials)
        if token is None:
            raise refuse(
                request, "anonymous",
                Unauthorized(
                    "the token is unknown, expired or revoked; create a new one with daytwo "
                    "tokens create"
                ),
            )  # fmt: skip
        if not token.role.allows(role):
            raise refuse(
                request, token.name,
                Forbidden(
                    f"token {token.name!r} has role {token.role}; this needs {role} or above"
                ),
            )  # fmt: skip
        return Caller(token, request)

    dependency.__name__ = f"needs_{role.value}"
    return dependency


#: Route dependencies: the caller, if the token's role allows at least this much.
viewer = Annotated[Caller, Depends(_requires(Role.VIEWER))]
operator = Annotated[Caller, Depends(_requires(Role.OPERATOR))]
owner = Annotated[Caller, Depends(_requires(Role.OWNER))]
admin = Annotated[Caller, Depends(_requires(Role.ADMIN))]
