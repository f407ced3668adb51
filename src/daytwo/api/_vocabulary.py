"""The API package's words in the audit log (stored in the core ``audit_log.action``)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ApiAction"]


class ApiAction(StrEnum):
    """Actions the API records itself (the Client records the operator actions)."""

    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    #: A start over HTTP (a start from Python is not an operator action; over HTTP it is a
    #: request someone made with a token, so it is recorded).
    START = "instance.start"
    #: A request refused before it reached an action: no or a bad token (401), a role or
    #: scope that does not allow it (403).
    REFUSED = "api.refused"
