"""Reading JSON arguments, with errors that say which argument is wrong and where."""

from __future__ import annotations

import json
from typing import Any

from daytwo.cli._errors import CliError

__all__ = ["parse_json"]

EXAMPLE = """'{"total": 10}'"""


def parse_json(text: str | None, argument: str) -> Any:
    """The value of the JSON command-line ``argument`` (None when it was not given)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        start = max(exc.pos - 10, 0)
        near = text[start : exc.pos + 10]
        where = f"line {exc.lineno} column {exc.colno}" if "\n" in text else f"column {exc.colno}"
        raise CliError(
            f"{argument} is not valid JSON: {exc.msg} at {where} (near {near!r}); it must be "
            f"JSON, e.g. {EXAMPLE} (quote it for the shell; a string needs its own quotes: "
            """'"text"')"""
        ) from None
