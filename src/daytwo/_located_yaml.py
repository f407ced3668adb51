"""YAML definitions with errors that name the file, line and field.

Shared by every package that reads definitions from the user's repository (``slos.yaml``,
``openslo.yaml``, ``ownership.yaml``). PyYAML's composer keeps the position of every node;
:func:`load_located` builds plain values from the node tree itself and remembers the line
of each field path, so a Pydantic validation error (``objectives[2].sli.within``) is
reported at the line it came from by :func:`definition_error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from daytwo._errors import InvalidInput

__all__ = [
    "DefinitionError",
    "Located",
    "build_located",
    "definition_error",
    "dotted",
    "invalid_yaml",
    "load_located",
    "read_definitions",
]

_Path = tuple[str | int, ...]
#: The line each field path of a document starts on.
Located = dict[_Path, int]


class DefinitionError(InvalidInput):
    """A definition was refused; names the file, line and field."""

    def __init__(self, file: str, line: int, field: str, message: str) -> None:
        where = f"{file}:{line}" + (f": {field}" if field else "")
        super().__init__(f"{where}: {message}")
        self.file, self.line, self.field = file, line, field


def read_definitions(path: str | Path, what: str) -> tuple[str, str]:
    """The text of a definitions file and its name for errors; an unreadable file is
    refused with the reason (``what``: the kind of file, for the message)."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8"), str(file)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} file {str(file)!r}: {exc.strerror}") from None


def invalid_yaml(file: str, exc: yaml.MarkedYAMLError) -> DefinitionError:
    """The error for text that is not YAML, at the line the parser stopped."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    return DefinitionError(file, line, "", f"not valid YAML: {exc.problem}")


def load_located(text: str, file: str) -> tuple[Any, Located]:
    """The data of YAML ``text`` and the line of each field path (None for an empty
    document); text that is not YAML is refused at its line."""
    lines: Located = {}
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = build_located(loader, node, (), lines) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise invalid_yaml(file, exc) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        raise DefinitionError(file, line, "", f"not valid YAML: {exc.reason}") from None
    return data, lines


def definition_error(exc: ValidationError, lines: Located, file: str) -> DefinitionError:
    """The first error of a Pydantic validation, at the line of its field."""
    error = exc.errors()[0]
    path = _real_path(error["loc"], lines)
    field = path
    last = error["loc"][-1] if error["loc"] else None
    if error["type"] == "missing" and isinstance(last, str):
        field = (*path, last)  # a missing field has no line of its own: its parent's
    message = str(error["msg"]).removeprefix("Value error, ")
    return DefinitionError(file, lines.get(path, 1), dotted(field), message)


def build_located(loader: yaml.SafeLoader, node: yaml.Node, path: _Path, lines: Located) -> Any:
    """The data of ``node``, recording in ``lines`` the line each field path starts on."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = build_located(loader, value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [build_located(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _real_path(loc: Sequence[str | int], lines: Located) -> _Path:
    """Pydantic's error location without union tags (``sli.cycle_time.within``)."""
    path: _Path = ()
    for part in loc:
        if (*path, part) in lines:
            path = (*path, part)
    return path


def dotted(path: _Path) -> str:
    """A field path as a user writes it: ``objectives[0].sli.within``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
