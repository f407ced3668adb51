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
    even on first execution so that a replay sees exactly what the first run saw.
    """

    def dumps(self, value: Any, what: str) -> str:
        """Serialize to compact JSON or raise :class:`SerializationError` naming the value."""
        try:
            return _encode(value)
        except RecursionError:
            raise SerializationError(
                f"{what} is not JSON-serializable: it contains itself (a circular reference) "
                "or is nested too deeply; pass a tree of plain values"
            ) from None
        except (TypeError, ValueError) as exc:
            path, bad = _find_unserializable(value, "")
            shown = repr(bad)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            where = f" at {path}" if path else ""
            raise SerializationError(
                f"{what} is not JSON-serializable{where}: {shown} ({type(bad).__name__}); "
                "use dicts, lists, strings, numbers, booleans and None, or convert it "
                "(e.g. a datetime to an ISO string) before passing it to daytwo"
            ) from exc

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


def _find_unserializable(value: Any, path: str) -> tuple[str, Any]:
    """Return the path and value of the first element JSON cannot represent."""
    if value is None or isinstance(value, (str, bool, int)):
        return "", None
    if isinstance(value, float):
        return ("", None) if math.isfinite(value) else (path, value)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{path}[{key!r}] (key)", key
            sub_path, bad = _find_unserializable(item, f"{path}[{key!r}]")
            if sub_path or bad is not None:
                return sub_path or f"{path}[{key!r}]", bad
        return "", None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            sub_path, bad = _find_unserializable(item, f"{path}[{index}]")
            if sub_path or bad is not None:
                return sub_path or f"{path}[{index}]", bad
        return "", None
    return path, value
