"""Process SLOs: objectives, aggregates, evaluation, burn-rate alerts and stuck instances.

Define objectives in Python (:class:`Objective`, :func:`register`) or YAML
(:func:`load_objectives`); see ``_definitions.py`` for the model. Prometheus: ``/metrics``
(:class:`StoreCollector`, ``_metrics.py``) and generated rules (``_promrules.py``); OpenSLO
export and import (``_openslo.py``).
"""

from daytwo.slo._alerts import Alert, AlertSink, LogSink, WebhookSink, list_alerts
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
from daytwo.slo._delivery import (
    ALERT_KINDS,
    AlertSubscriber,
    DurableAlertSink,
)
from daytwo.slo._evaluator import Evaluator
from daytwo.slo._extension import SloExtension
from daytwo.slo._metrics import MetricsService, StoreCollector, serve_metrics
from daytwo.slo._openslo import export_openslo, load_openslo, openslo_yaml, parse_openslo
from daytwo.slo._promrules import prometheus_rules, prometheus_rules_yaml
from daytwo.slo._registry import add_alert_sinks, alert_sinks_for, objectives_for, register
from daytwo.slo._results import Measure, RuleResult, SloStatus
from daytwo.slo._service import EvaluatorService, acquire_lease
from daytwo.slo._stuck import StuckInstance, stuck_report
from daytwo.slo._versions import definition_history
from daytwo.slo._vocabulary import AlertStatus, Severity
from daytwo.slo._yaml import DefinitionError, load_objectives, parse_objectives

__all__ = [
    "ALERT_KINDS",
    "CYCLE_TIME_BOUNDS",
    "PAGE",
    "TICKET",
    "WORKBOOK_RULES",
    "Alert",
    "AlertPolicy",
    "AlertSink",
    "AlertStatus",
    "AlertSubscriber",
    "BurnRateRule",
    "CompensationRate",
    "CycleTime",
    "DefinitionError",
    "DurableAlertSink",
    "Duration",
    "Evaluator",
    "EvaluatorService",
    "Indicator",
    "LogSink",
    "Measure",
    "MetricsService",
    "Objective",
    "RetryRate",
    "RuleResult",
    "Severity",
    "SloExtension",
    "SloStatus",
    "StoreCollector",
    "StuckInstance",
    "StuckRatio",
    "Success",
    "WebhookSink",
    "Window",
    "acquire_lease",
    "add_alert_sinks",
    "alert_sinks_for",
    "definition_history",
    "export_openslo",
    "format_duration",
    "list_alerts",
    "load_objectives",
    "load_openslo",
    "objectives_for",
    "openslo_yaml",
    "parse_duration",
    "parse_objectives",
    "parse_openslo",
    "prometheus_rules",
    "prometheus_rules_yaml",
    "register",
    "serve_metrics",
    "stuck_report",
]
