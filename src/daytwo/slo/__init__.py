"""Process SLOs: objectives, aggregates, evaluation, burn-rate alerts and stuck instances.

Define objectives in Python (:class:`Objective`, :func:`register`) or YAML
(:func:`load_objectives`); see ``_definitions.py`` for the model.
"""

from daytwo.slo._definitions import (
    CYCLE_TIME_BOUNDS,
    PAGE,
    TICKET,
    WORKBOOK_RULES,
    AlertPolicy,
    BurnRateRule,
    CompensationRate,
    CycleTime,
    Duration,
    Indicator,
    Objective,
    RetryRate,
    StuckRatio,
    Success,
    Window,
    format_duration,
    parse_duration,
)
from daytwo.slo._registry import objectives_for, register
from daytwo.slo._yaml import DefinitionError, load_objectives, parse_objectives

__all__ = [
    "CYCLE_TIME_BOUNDS",
    "PAGE",
    "TICKET",
    "WORKBOOK_RULES",
    "AlertPolicy",
    "BurnRateRule",
    "CompensationRate",
    "CycleTime",
    "DefinitionError",
    "Duration",
    "Indicator",
    "Objective",
    "RetryRate",
    "StuckRatio",
    "Success",
    "Window",
    "format_duration",
    "load_objectives",
    "objectives_for",
    "parse_duration",
    "parse_objectives",
    "register",
]
