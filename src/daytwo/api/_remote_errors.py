"""A problem+json answer back into the daytwo exception the server raised.

The server names the exception's class (``error``) and its one-line message (``detail``);
raising the same class here makes ``daytwo --server`` end with the same exit code and print
the same ``error: ...`` line as the command run against the database.
"""

from __future__ import annotations

from typing import Any

import httpx

import daytwo
from daytwo import _errors
from daytwo.api._problems import Forbidden, Unauthorized
from daytwo.api._tokens import TokenNotFound

__all__ = ["NotOverHttp", "error_of", "register_remote_errors"]


class NotOverHttp(daytwo.DaytwoError):
    """A command that needs the database itself (``--server`` cannot run it)."""


def _classes() -> dict[str, type[daytwo.DaytwoError]]:
    found: dict[str, type[daytwo.DaytwoError]] = {
        name: kind
        for name in _errors.__all__
        if isinstance(kind := getattr(daytwo._errors, name), type)
        and issubclass(kind, daytwo.DaytwoError)
    }
    for kind in (Unauthorized, Forbidden, TokenNotFound):
        found[kind.__name__] = kind
    return found


_CLASSES = _classes()


def register_remote_errors(*kinds: type[daytwo.DaytwoError]) -> None:
    """Let answers naming ``kinds`` (an operations package's errors, by class name) raise
    them again on the client, with their exit codes (``daytwo --server``)."""
    for kind in kinds:
        _CLASSES.setdefault(kind.__name__, kind)


def _rebuilt(kind: type[daytwo.DaytwoError], message: str) -> daytwo.DaytwoError:
    # Many daytwo errors build their message from fields (InstanceNotFound(id)); the
    # server's message is already the finished one, so it is set as is.
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    return error


def error_of(response: httpx.Response) -> daytwo.DaytwoError:
    """The exception an error response stands for."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "detail" not in body:
        text = " ".join(response.text.split())[:200]
        return daytwo.StoreUnavailable(
            f"the server answered {response.status_code} {response.reason_phrase}"
            + (f": {text}" if text else "")
            + "; is --server the URL of daytwo serve?"
        )
    kind = _CLASSES.get(str(body.get("error")), daytwo.DaytwoError)
    if response.status_code == 413:
        kind = daytwo.InvalidInput
    return _rebuilt(kind, str(body["detail"]))
