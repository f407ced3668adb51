"""Serialization of user values (inputs, step arguments and results, signal payloads).

JSON is the default because it is readable in the database, portable across languages and
versions, and cannot execute code on load (pickle is never the default). The serializer is
pluggable through the :class:`Serializer` protocol.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from daytwo._errors import SerializationError

__all__ = ["JsonSerializer", "Serializer"]


class Serializer(Protocol):
    """Turns user values into text for the store and back."""

    def dumps(self, value: Any, what: str) -> str:
        """Serialize ``value``; ``what`` names it in errors (e.g. "result of step 'charge'")."""
        ...

    def loads(self, text: str) -> Any:
        """Deserialize text produced by :meth:`dumps`."""
        ...


class JsonSerializer:
    """Strict JSON: dicts with string keys, lists, strings, numbers, booleans and None.

    Tuples are accepted and come back as lists; the engine hands user code the loaded form
    even on first execution so that a replay sees exactly what the first run saw. What JSON
    would silently change is refused instead: a non-string dict key (``{1: "a"}`` would come
    back as ``{"1": "a"}``) and a string that is not valid Unicode (a lone surrogate such as
    ``"\\ud800"``, which every later reader of the value would fail to print).
    """

    def dumps(self, value: Any, what: str) -> str:
        """Serialize to compact JSON or raise :class:`SerializationError` naming the value."""
        try:
            text = _encode(value)
        except RecursionError:
            raise SerializationError(
                f"{what} is not JSON-serializable: it contains itself (a circular reference) "
                "or is nested too deeply; pass a tree of plain values"
            ) from None
        except (TypeError, ValueError) as exc:
            raise _refusal(value, what) from exc
        # The encoder escapes every non-ASCII character, so a surrogate can only hide behind
        # "\\ud"; and only containers have keys. Scalars (most step results) skip both walks.
        if isinstance(value, _CONTAINERS) and not _string_keys(value):
            raise _refusal(value, what)
        if "\\ud" in text and _find_problem(value, "") is not None:
            raise _refusal(value, what)
        return text

    def loads(self, text: str) -> Any:
        """Parse JSON text."""
        return _DECODE(text)


# json.dumps builds a new encoder on every call when given options; reuse one.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODE = json.JSONDecoder().decode
# Every step argument and result is encoded, so call the C encoder behind _ENCODER directly
# (same output) instead of through JSONEncoder.encode's Python layers. It is built without
# the circular-reference bookkeeping: a value that contains itself ends in RecursionError.
_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # None without _json
_C_ENCODER: Any = (
    _C_MAKE_ENCODER(
        None,
        _ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )
    if _C_MAKE_ENCODER is not None
    else None
)


def _encode(value: Any) -> str:
    if _C_ENCODER is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


_CONTAINERS = (dict, list, tuple)


def _refusal(value: Any, what: str) -> SerializationError:
    """The error for a value that cannot be stored, naming where in it the problem is."""
    found = _find_problem(value, "")
    if found is None:  # not found by the walk (a custom type's quirk): say what we know
        return SerializationError(
            f"{what} is not JSON-serializable; use dicts with string keys, lists, strings, "
            "numbers, booleans and None"
        )
    path, bad, problem = found
    shown = repr(bad)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    where = f" at {path}" if path else ""
    if problem == "key":
        return SerializationError(
            f"{what} has a non-string key{where}: {shown} ({type(bad).__name__}); JSON keys "
            f"are strings, so it would come back as {str(bad)!r}: convert the keys to strings "
            "before passing the value to daytwo"
        )
    if problem == "surrogate":
        return SerializationError(
            f"{what} contains a lone surrogate{where}: {shown}; that is not valid Unicode "
            "text and cannot be stored or shown: remove it, or decode the bytes it came from "
            "with the right encoding"
        )
    return SerializationError(
        f"{what} is not JSON-serializable{where}: {shown} ({type(bad).__name__}); "
        "use dicts, lists, strings, numbers, booleans and None, or convert it "
        "(e.g. a datetime to an ISO string) before passing it to daytwo"
    )


def _string_keys(value: Any) -> bool:
    """Whether every dict in ``value`` has string keys only (the fast check; the error's
    path comes from :func:`_find_problem`)."""
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                return False
        value = value.values()
    return all(_string_keys(item) for item in value if isinstance(item, _CONTAINERS))


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _find_problem(value: Any, path: str) -> tuple[str, Any, str] | None:
    """The path, value and kind ("type", "key", "surrogate") of the first element that JSON
    cannot represent faithfully, or None."""
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, str):
        return None if _valid_text(value) else (path, value, "surrogate")
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value, "type")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}] (key)", key, "key"
            if not _valid_text(key):
                return f"{path}[{key!r}] (key)", key, "surrogate"
            found = _find_problem(item, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_problem(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return path, value, "type"
