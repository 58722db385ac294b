"""`mlprom rules`: the configured query thresholds as a Prometheus rule file, for Prometheus to evaluate.

One recording rule per configured query, and one alerting rule per level of every query threshold, with
the labels and annotations that `mlprom alert` sends for the same finding. Model metrics (prediction
time, accuracy, drift) are computed from events by `correlate` and have no PromQL, so they stay out.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mlprom.reports.results import RuleFile

if TYPE_CHECKING:
    from mlprom.config import Config

ALERTNAME = "MlpromThreshold"  # the alertname `mlprom alert` gives threshold findings
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")
_OPERATORS = {"above": ">=", "below": "<="}  # reaching the level counts, as in correlate
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration: 300 -> 5m, 5400 -> 1h30m, 0.5 -> 500ms."""
    millis = round(seconds * 1000)
    if millis <= 0:
        return "0s"
    whole, rest = divmod(millis, 1000)
    parts = []
    for unit, size in _UNITS:
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if rest:
        parts.append(f"{rest}ms")
    return "".join(parts)


def _name_part(text: str) -> str:
    part = _NOT_NAME_CHAR.sub("_", text)
    return "_" + part if part[:1].isdigit() else part


def record_names(config: Config) -> dict[str, str]:
    """Query name -> the metric name its recording rule writes: mlprom_<model>:<query>.

    The model is in the name so the rule files of several configs can be loaded into one Prometheus
    without two rules writing the same series.
    """
    level = "mlprom_" + _name_part(config.model.name)
    names: dict[str, str] = {}
    taken: set[str] = set()
    for query in config.queries:
        name = f"{level}:{_name_part(query)}"
        candidate, n = name, 2
        while candidate in taken:  # "a-b" and "a_b" both sanitise to a_b
            candidate, n = f"{name}_{n}", n + 1
        taken.add(candidate)
        names[query] = candidate
    return names


def _where(model: str) -> str:
    # The same choice as the alert summary: instance, else job, else the model.
    return (
        "{{ if $labels.instance }}{{ $labels.instance }}"
        "{{ else if $labels.job }}{{ $labels.job }}"
        "{{ else }}model " + _template_literal(model) + "{{ end }}"
    )


def _template_literal(text: str) -> str:
    # Text from the config is printed, never interpreted as a Go template.
    if "{{" not in text and "}}" not in text:
        return text
    return '{{ "' + text.replace("\\", "\\\\").replace('"', '\\"') + '" }}'


def _alert_rule(config: Config, query: str, record: str, severity: str, level: float, direction: str) -> dict:
    threshold = config.thresholds[query]
    model = config.model.name
    value = '{{ $value | printf "%.6g" }}'
    q = _template_literal(query)
    # Rule labels are templates too: static values are printed literally.
    static = {k: _template_literal(v) for k, v in config.alertmanager.labels.items()}
    labels = {**static, "severity": severity, "model": model, "metric": query}
    lasting = f" for at least {format_duration(threshold.for_)}" if threshold.for_ > 0 else ""
    annotations = {
        "summary": f"{q} {value} is {direction} the {severity} level {level:g} on {_where(model)}",
        "description": (
            f"{q} has been {direction} {level:g}{lasting}, now {value}. Evaluated by Prometheus from "
            f"`mlprom rules`; `mlprom correlate` relates it to the predictions of model "
            f"{_template_literal(model)}."
        ),
        "value": value,
        "threshold": f"{level:g}",
    }
    if config.alertmanager.runbook_url:
        annotations["runbook_url"] = _template_literal(config.alertmanager.runbook_url)
    rule: dict[str, Any] = {"alert": ALERTNAME, "expr": f"{record} {_OPERATORS[direction]} {level!r}"}
    if threshold.for_ > 0:
        rule["for"] = format_duration(threshold.for_)
    rule["labels"] = labels
    rule["annotations"] = annotations
    return rule


def build_rules(config: Config) -> RuleFile:
    """Recording rules for every query, alerting rules for every level of every query threshold."""
    records = record_names(config)
    recording = [{"record": records[name], "expr": query.expr} for name, query in config.queries.items()]
    alerting: list[dict[str, Any]] = []
    left_out: list[tuple[str, str]] = []
    for name, threshold in config.thresholds.items():
        if name not in config.queries:
            left_out.append((name, "a model metric, evaluated from events by `mlprom correlate`"))
            continue
        if threshold.min_events > 1:
            left_out.append(
                (
                    f"{name} min_events {threshold.min_events}",
                    "Prometheus counts time (`for`), not evaluations",
                )
            )
        for severity in ("warning", "critical"):
            level = getattr(threshold, severity)
            if level is not None:
                alerting.append(
                    _alert_rule(config, name, records[name], severity, level, threshold.direction)
                )
    group = "mlprom-" + config.model.name
    groups: list[dict[str, Any]] = []
    if recording:
        groups.append({"name": f"{group}-queries", "rules": recording})
    if alerting:
        groups.append({"name": f"{group}-thresholds", "rules": alerting})
    return RuleFile({"groups": groups}, tuple(left_out))
