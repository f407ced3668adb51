"""Objectives from YAML files, validated, with errors that name the file, line and field
(the located loader is ``daytwo/_located_yaml.py``, shared with ``ownership.yaml``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from daytwo._located_yaml import (
    DefinitionError,
    build_located,
    definition_error,
    dotted,
    invalid_yaml,
    load_located,
    read_definitions,
)
from daytwo.slo._definitions import Objective

__all__ = [
    "DefinitionError",
    "build_located",
    "dotted",
    "invalid_yaml",
    "load_objectives",
    "parse_objectives",
    "read_definitions",
]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    objectives: list[Objective]


def load_objectives(path: str | Path) -> list[Objective]:
    """Read and validate the objectives of a YAML file (``objectives: [...]``)."""
    return parse_objectives(*read_definitions(path, "objectives"))


def parse_objectives(text: str, file: str = "<string>") -> list[Objective]:
    """Validate the objectives in YAML ``text``; ``file`` names it in errors."""
    data, lines = load_located(text, file)
    if isinstance(data, list):
        data = {"objectives": data}
    if not isinstance(data, dict):
        raise DefinitionError(file, 1, "", "expected a mapping with an 'objectives:' list")
    try:
        objectives = _File.model_validate(data).objectives
    except ValidationError as exc:
        raise definition_error(exc, lines, file) from None
    seen: dict[str, int] = {}
    for index, objective in enumerate(objectives):
        if objective.name in seen:
            first = seen[objective.name]
            raise DefinitionError(
                file, lines.get(("objectives", index, "name"), 1), f"objectives[{index}].name",
                f"duplicate objective name {objective.name!r} (also objectives[{first}])",
            )  # fmt: skip
        seen[objective.name] = index
    return objectives
