"""`mlprom rules`: the configured query thresholds as a Prometheus rule file, for Prometheus to evaluate.

A recording rule per query that computes something, named `level:query:operations` with the model as a
label, and an alerting rule per level of every query threshold, always with a `for`, with the labels and
annotations that `mlprom alert` sends for the same finding. Model metrics (prediction
time, accuracy, drift) are computed from events by `correlate` and have no PromQL, so they stay out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlprom.reports.results import RuleFile

if TYPE_CHECKING:
    from mlprom.config import Config

DEFAULT_FOR = 120.0  # `for:` of a threshold without one: a few evaluations at the usual 30 s to 1 m interval
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")
_OPERATORS = {"above": ">=", "below": "<="}  # reaching the level counts, as in correlate
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "stddev", "stdvar", "group", "topk", "bottomk", "quantile",
     "count_values", "limitk", "limit_ratio"}
)  # fmt: skip
# Functions over a range ([5m]): the window is part of the operation's name (rate5m), as in the practices.
_RANGE_FUNCTIONS = frozenset(
    {"rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets", "predict_linear",
     "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
     "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time"}
)  # fmt: skip
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(?:(by|without)\s*\(([^()]*)\)\s*)?\(")
_GROUPING_AFTER = re.compile(r"\s*(by|without)\s*\(([^()]*)\)")
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
_SELECTOR = re.compile(r"\{[^{}]*\}")
_COMMENT = re.compile(r"#[^\n]*")
_BARE_SELECTOR = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*(\{[^{}]*\})?")
# A division by a series (a / b), not by a number (x / 1024): a ratio, in the practices' words.
_DIVISION = re.compile(r"/\s*\(*\s*[A-Za-z_:]")


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


@dataclass(frozen=True)
class _Call:
    name: str
    depth: int  # parentheses around the call: the outermost operation has the fewest
    grouping: str | None  # "by" or "without"
    labels: tuple[str, ...]
    window: str | None  # the range of a range function, "1m" for rate(x[1m])
    first_argument: str


def _skeleton(expr: str) -> str:
    # Strings and label matchers may hold any text ("rate(" in a regex): blank them, keeping the shape.
    expr = _COMMENT.sub("", expr)
    expr = _STRING.sub('""', expr)
    return _SELECTOR.sub("{}", expr)


def _calls(expr: str) -> list[_Call]:
    """Every function and aggregation call of `expr`, in the order they are written."""
    text = _skeleton(expr)
    calls = []
    for match in _CALL.finditer(text):
        if match.group(1) in ("by", "without", "on", "ignoring", "group_left", "group_right", "bool"):
            continue
        opened = match.end() - 1
        depth, close = 0, len(text)
        for i in range(opened, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                close = i
                break
        inner = text[opened + 1 : close]
        grouping, labels = match.group(2), match.group(3)
        after = _GROUPING_AFTER.match(text, close + 1)
        if grouping is None and after:
            grouping, labels = after.group(1), after.group(2)
        calls.append(
            _Call(
                match.group(1),
                text[: match.start()].count("(") - text[: match.start()].count(")"),
                grouping,
                tuple(label.strip() for label in (labels or "").split(",") if label.strip()),
                _window(inner),
                inner.split(",", 1)[0].strip(),
            )
        )
    return calls


def _window(inner: str) -> str | None:
    """The `[range]` written at the top level of a call's arguments (rate(x[5m]) -> 5m)."""
    depth = 0
    for i, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "[" and depth == 0:
            return inner[i + 1 : inner.index("]", i)].split(":", 1)[0].strip() or None
    return None


def _operation(call: _Call) -> str | None:
    if call.name == "histogram_quantile":
        try:
            return "p" + f"{float(call.first_argument) * 100:g}".replace(".", "_")
        except ValueError:
            return "histogram_quantile"
    if call.name in _RANGE_FUNCTIONS:
        return call.name + (call.window or "")
    if call.name in _AGGREGATIONS:
        return call.name
    return None  # abs, clamp, label_replace, ...: they change no meaning the name should carry


def rule_name_parts(expr: str) -> tuple[str, str] | None:
    """(level, operations) of the recording rule of `expr`, or None when it needs none (a bare selector).

    level: the labels of the outermost aggregation's `by (...)` (without `le`, which histogram_quantile
    consumes, and `model`, on every recorded series); `model` when it aggregates everything; else
    `instance` (the series keep their own labels, as a per-target series does). operations: the
    aggregations and range functions, outermost first, `sum` left out beside others, repeats merged,
    `ratio` first when a series is divided by another; docs/alerting.md has the examples.
    """
    calls = _calls(expr)
    operations: list[str] = ["ratio"] if _DIVISION.search(_skeleton(expr)) else []
    for call in calls:
        operation = _operation(call)
        if operation and operation not in operations:  # sum(rate(a)) / sum(rate(b)): one rate5m
            operations.append(operation)
    if len(operations) > 1 and "sum" in operations:
        operations.remove("sum")
    if not operations:
        return None
    aggregations = [c for c in calls if c.name in _AGGREGATIONS]
    level = "instance"
    if aggregations:
        outermost = min(aggregations, key=lambda c: c.depth)
        if outermost.grouping is None:
            level = "model"
        elif outermost.grouping == "by":
            kept = [_name_part(label) for label in outermost.labels if label not in ("le", "model")]
            level = "_".join(kept) or "model"
    return level, "_".join(operations)


def keeps_model_label(expr: str) -> bool:
    """Whether the series of `expr` carry a `model` label of their own (grouped `by (..., model)`).

    Their recording rule keeps it: a rule label would overwrite it, so the series of two models would
    get one label set, and Prometheus fails the rule for a duplicate series.
    """
    return any(c.grouping == "by" and "model" in c.labels for c in _calls(expr))


def record_names(config: Config) -> dict[str, str]:
    """Query name -> the metric its recording rule writes, `level:query:operations`; bare selectors have none.

    The model is a label of the recorded series (`model="churn"`), not part of the name, so the files of
    several configs write one metric each, told apart by that label.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for query, spec in config.queries.items():
        parts = rule_name_parts(spec.expr)
        if parts is None:
            continue
        level, operations = parts
        metric = _name_part(query)
        candidate, n = f"{level}:{metric}:{operations}", 2
        while candidate in taken:  # "a-b" and "a_b" both sanitise to a_b
            candidate, n = f"{level}:{metric}_{n}:{operations}", n + 1
        taken.add(candidate)
        names[query] = candidate
    return names


def alert_name(query: str, direction: str) -> str:
    """`MlpromCpuUsageHigh` for cpu_usage above a level, `MlpromFreeDiskLow` for free_disk below one."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", query) if w]
    return (
        "Mlprom" + "".join(w[:1].upper() + w[1:] for w in words) + ("High" if direction == "above" else "Low")
    )


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


def _alert_rule(
    config: Config, query: str, source: str, severity: str, level: float, direction: str, recorded: bool
) -> dict[str, Any]:
    threshold = config.thresholds[query]
    model = config.model.name
    value = '{{ $value | printf "%.6g" }}'
    q = _template_literal(query)
    # Rule labels are templates too: static values are printed literally.
    static = {k: _template_literal(v) for k, v in config.alertmanager.labels.items()}
    labels = {**static, "severity": severity, "model": model, "metric": query}
    if not recorded:
        # A bare selector's series keep __name__, which `alert` sends as series_name; Prometheus drops
        # __name__ from an alert's labels but templates still see it (empty, and so dropped, for series
        # without one).
        labels["series_name"] = "{{ $labels.__name__ }}"
    lasting = threshold.for_ if threshold.for_ > 0 else DEFAULT_FOR
    annotations = {
        "summary": f"{q} {value} is {direction} the {severity} level {level:g} on {_where(model)}",
        "description": (
            f"{q} has been {direction} {level:g} for at least {format_duration(lasting)}, now {value}. "
            f"Evaluated by Prometheus from `mlprom rules`; `mlprom correlate` relates it to the "
            f"predictions of model {_template_literal(model)}."
        ),
        "value": value,
        "threshold": f"{level:g}",
    }
    if config.alertmanager.runbook_url:
        annotations["runbook_url"] = _template_literal(config.alertmanager.runbook_url)
    return {
        "alert": alert_name(query, direction),
        "expr": f"{source} {_OPERATORS[direction]} {level!r}",
        "for": format_duration(lasting),
        "labels": labels,
        "annotations": annotations,
    }


def _model_matcher(model: str) -> str:
    return '{model="' + model.replace("\\", "\\\\").replace('"', '\\"') + '"}'


def build_rules(config: Config) -> RuleFile:
    """Recording rules for the queries that compute something, alerting rules for every level of every
    query threshold (on the recorded series, else on the query itself)."""
    records = record_names(config)
    model = config.model.name
    recording: list[dict[str, Any]] = []
    sources: dict[str, str] = {}
    for name, query in config.queries.items():
        if name not in records:
            bare = _BARE_SELECTOR.fullmatch(query.expr.strip())
            sources[name] = query.expr.strip() if bare else f"({query.expr.strip()})"
            continue
        rule: dict[str, Any] = {"record": records[name], "expr": query.expr}
        if not keeps_model_label(query.expr):
            rule["labels"] = {"model": model}
        recording.append(rule)
        # Only this config's model: the files of several configs record the same metric.
        sources[name] = records[name] + _model_matcher(model)
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
                    _alert_rule(
                        config, name, sources[name], severity, level, threshold.direction, name in records
                    )
                )
    group = "mlprom-" + model
    groups: list[dict[str, Any]] = []
    if recording:
        groups.append({"name": f"{group}-queries", "rules": recording})
    if alerting:
        groups.append({"name": f"{group}-thresholds", "rules": alerting})
    return RuleFile({"groups": groups}, tuple(left_out))
