"""daytwo's HTTP API: everything the CLI does, over HTTP, behind tokens with roles.

``daytwo serve --app orders:app`` serves it; :func:`create_api` builds the FastAPI
application for serving it any other way; :class:`RemoteClient` is the Client that
``daytwo --server URL`` uses (the same methods, over HTTP). Tokens (``daytwo tokens``) carry
a :class:`Role` and optionally a workflow scope.
"""

from daytwo.api._auth import Caller, admin, authenticate, operator, owner, viewer
from daytwo.api._problems import Forbidden, Problem, Unauthorized, status_for
from daytwo.api._remote import RemoteClient
from daytwo.api._remote_app import RemoteApp
from daytwo.api._remote_errors import NotOverHttp, register_remote_errors
from daytwo.api._roles import Role
from daytwo.api._serve import LOOPBACK, serve
from daytwo.api._server import DEFAULT_MAX_BODY, PREFIX, create_api
from daytwo.api._tokens import NewToken, Token, TokenNotFound, Tokens
from daytwo.api.routes import Api

__all__ = [
    "DEFAULT_MAX_BODY",
    "LOOPBACK",
    "PREFIX",
    "Api",
    "Caller",
    "Forbidden",
    "NewToken",
    "NotOverHttp",
    "Problem",
    "RemoteApp",
    "RemoteClient",
    "Role",
    "Token",
    "TokenNotFound",
    "Tokens",
    "Unauthorized",
    "admin",
    "authenticate",
    "create_api",
    "operator",
    "owner",
    "register_remote_errors",
    "serve",
    "status_for",
    "viewer",
]
