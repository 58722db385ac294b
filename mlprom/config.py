"""YAML -> validated, frozen config: lookup order, built-in defaults, ${VAR}, durations, thresholds.

Every error is a ConfigError naming the file, the line and the key, never a secret. The YAML reader is
bounded (size, nesting, aliases; docs/reliability.md): a config is a page of settings, not a program.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlprom.errors import ConfigError
from mlprom.storage.url import StorageURL, parse_storage_url

DEFAULT_CONFIG_NAME = "mlprom.yaml"
CONFIG_ENV = "MLPROM_CONFIG"

# Model metrics a threshold may name besides the configured queries.
MODEL_METRICS = frozenset(
    {
        "prediction_time",
        "accuracy",
        "loss",
        "precision",
        "recall",
        "f1",
        "mae",
        "rmse",
        "error_rate",
        "drift_psi",
        "drift_ks_pvalue",
        "drift_wasserstein",
        "accuracy_drop",
    }
)

_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_FULL = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # fullmatch: "name\\n" is not a name

# Bounds of the YAML reader: a real config is a few KB with a handful of anchors.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 32
MAX_YAML_ALIASES = 256
MAX_YAML_NODES = 100_000  # nodes of the document with every alias expanded
# Bounds of values (docs/reliability.md).
MAX_DURATION = 366 * 86400.0  # a year (and a day): beyond, date arithmetic meets the calendar's end
MAX_TIMEOUT = 3600.0
# Control characters other than tab and newline (and lone surrogates) have no business in a config value.
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Labels every alert already carries; a static label may not replace them.
ALERT_LABELS = frozenset({"alertname", "severity", "model", "metric"})
# Drift compares whole days once: persistence (for, min_events) has nothing to count there.
DRIFT_METRICS = frozenset({"drift_psi", "drift_ks_pvalue", "drift_wasserstein", "accuracy_drop"})


def parse_duration(value: Any) -> float:
    """Prometheus-style duration ("500ms", "30s", "1h30m", "7d") or a plain number of seconds -> seconds.

    At most MAX_DURATION (366 days).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s or 5m, got {value!r}")
    seconds = math.nan
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a non-negative finite duration, got {value!r}")
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _DURATION_FULL.match(text):
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
        else:
            try:
                seconds = float(text)
            except ValueError:
                seconds = math.nan
            if not (math.isfinite(seconds) and seconds >= 0):
                seconds = math.nan
    if math.isnan(seconds):
        raise ValueError(
            f"invalid duration {value!r}: use a number of seconds or units ms/s/m/h/d/w/y, e.g. 500ms, 30s, 5m"
        )
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than the maximum of 366d")
    return seconds


def parse_timeout(value: Any) -> float:
    """A duration above zero and at most an hour: 0 would fail every request, a day hides a hang."""
    seconds = parse_duration(value)
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ValueError(f"timeout {value!r} must be above 0 and at most 1h")
    return seconds


def _parse_threshold_number(value: Any) -> float:
    """A threshold level: a plain number, or a duration string (for prediction_time: 5s)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"threshold must be finite, got {value!r}")
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            raise ValueError(f"expected a number or a duration, got {value!r}") from None
    raise ValueError(f"expected a number, got {type(value).__name__}")


Duration = Annotated[float, BeforeValidator(parse_duration)]
Timeout = Annotated[float, BeforeValidator(parse_timeout)]
Level = Annotated[float, BeforeValidator(_parse_threshold_number)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSConfig(_Frozen):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False


class BasicAuth(_Frozen):
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    password_file: str | None = None


class HTTPEndpoint(_Frozen):
    """Connection options shared by every HTTP upstream."""

    timeout: Timeout = 30.0
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token_file: str | None = None
    basic_auth: BasicAuth = BasicAuth()
    tls: TLSConfig = TLSConfig()

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if any(c in text for c in "\r\n\x00"):
                # The value may be a credential: name the header, never echo the value.
                raise ValueError(f"header {name}: the value contains a line break or NUL")
        return value


def _check_http_url(url: str) -> str:
    from urllib.parse import urlsplit

    from mlprom.clients.http import redact_url

    shown = redact_url(url)  # messages never carry user:password@ or tokens, valid URL or not
    if any(c.isspace() for c in url):
        raise ValueError(f"URL {shown!r} contains whitespace")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        reason = "port out of range 1-65535" if "Port" in str(exc) else "not a valid URL"
        raise ValueError(f"URL {shown!r}: {reason}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {shown!r}")
    if not parts.hostname:
        raise ValueError(f"URL {shown!r} names no host")
    if port == 0:
        raise ValueError(f"URL {shown!r}: port out of range 1-65535")
    return url.rstrip("/")


class StorageConfig(_Frozen):
    url: str = "./mlprom-data"
    endpoint_url: str | None = None
    region: str | None = None
    timeout: Duration = 30.0  # S3: total deadline of one request (attempts, back-off, reading the answer)
    # Where a person's browser can open the stored objects (alerts link the report there).
    public_url: str | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        try:
            parse_storage_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("storage.url ")) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _valid_public_url(cls, value: str | None) -> str | None:
        # A prefix the key is appended to, or a template with {key} (an S3 console link, say).
        if value is None:
            return None
        checked = _check_http_url(value.replace("{key}", ""))
        return value if "{key}" in value else checked


class PrometheusConfig(HTTPEndpoint):
    url: str = "http://localhost:9090"

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return _check_http_url(value)


class AlertmanagerConfig(HTTPEndpoint):
    urls: list[str] = Field(default_factory=lambda: ["http://localhost:9093"])
    resend_ttl: Duration = 3600.0
    runbook_url: str | None = None
    # A report covers a whole day; without this a 03:00 spike keeps firing until the day ends.
    clear_after: Duration | None = None
    labels: dict[str, str] = Field(default_factory=dict)  # static labels on every alert, for routing

    @field_validator("urls")
    @classmethod
    def _valid_urls(cls, value: list[str]) -> list[str]:
        return [_check_http_url(u) for u in value]

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(
                    f"label name {name!r}: use letters, digits and '_', not starting with a digit or '__'"
                )
            if name in ALERT_LABELS:
                raise ValueError(
                    f"label {name!r} is set by mlprom itself ({', '.join(sorted(ALERT_LABELS))})"
                )
        return value


class PushgatewayConfig(HTTPEndpoint):
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)


class MLflowConfig(_Frozen):
    tracking_uri: str | None = None
    experiment: str = "mlprom"
    ui_url: str | None = None  # links in alerts; default: tracking_uri when it is http(s)
    system_metrics: bool = False  # MLflow's system metrics (CPU, memory, disk, network); needs psutil

    @field_validator("ui_url")
    @classmethod
    def _valid_ui_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)


class ModelConfig(_Frozen):
    name: str = "default"
    latency_threshold: Duration = 10.0
    sample_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    record_inputs: Literal["none", "digest", "full"] = "digest"
    task: Literal["auto", "classification", "regression"] = "auto"

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _MODEL_NAME.fullmatch(value):
            raise ValueError(
                f"model name {value!r}: start with a letter or digit; use only letters, digits, '.', '_', '-'"
            )
        return value


class CorrelateConfig(_Frozen):
    max_skew: Duration = 300.0
    # Where infra values come from (docs/correlation.md): stored snapshots, Prometheus' range API, or
    # snapshots first and history for the gaps.
    infra_source: Literal["auto", "snapshots", "prometheus"] = "auto"
    # History's resolution: twice the common 15 s scrape interval, one chunk (2,881 points) per day.
    step: Duration = 30.0
    fdr: float = Field(default=0.05, gt=0.0, lt=1.0)  # Benjamini-Hochberg false discovery rate
    max_lag: Duration = 300.0  # how long before slow predictions a series may rise and still count

    @field_validator("step")
    @classmethod
    def _positive_step(cls, value: float) -> float:
        if value < 1.0:
            raise ValueError(f"step must be at least 1s, got {value:g}s")
        return value


class DriftConfig(_Frozen):
    reference_days: int = Field(default=7, ge=1, le=366)
    min_samples: int = Field(default=50, ge=2, le=1_000_000_000)
    bins: int = Field(default=10, ge=2, le=1000)


class Query(_Frozen):
    expr: str
    unit: str | None = None
    description: str | None = None
    # The time span one sample describes (rate(x[1m]) at t: (t-1m, t]); None: read from the expression.
    window: Duration | None = None
    # Smallest change of the median that counts as a suspect, in `unit`; None: the unit's default.
    min_change: float | None = Field(default=None, ge=0.0)

    @field_validator("expr")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expr is empty")
        return value


class Threshold(_Frozen):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    warning: Level | None = None
    critical: Level | None = None
    direction: Literal["above", "below"] = "above"
    # Persistence before an alert: past a level for this long without a break (query thresholds;
    # Prometheus' `for:` in `mlprom rules`), and in at least this many snapshots or events.
    for_: Duration = Field(default=0.0, alias="for")
    min_events: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _has_a_level(self) -> Threshold:
        if self.warning is None and self.critical is None:
            raise ValueError("a threshold needs warning, critical or both")
        if self.warning is not None and self.critical is not None:
            ordered = (
                self.warning <= self.critical if self.direction == "above" else self.warning >= self.critical
            )
            if not ordered:
                raise ValueError(
                    f"warning {self.warning:g} is past critical {self.critical:g} for direction {self.direction}"
                )
        return self


def _query_shorthand(value: Any) -> Any:
    return {"expr": value} if isinstance(value, str) else value


def _threshold_shorthand(value: Any) -> Any:
    # The seed's flat form `cpu_usage: 0.7` means: critical when the value is above 0.7.
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return {"critical": value}
    return value


class Config(_Frozen):
    storage: StorageConfig = StorageConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    pushgateway: PushgatewayConfig = PushgatewayConfig()
    mlflow: MLflowConfig = MLflowConfig()
    model: ModelConfig = ModelConfig()
    correlate: CorrelateConfig = CorrelateConfig()
    drift: DriftConfig = DriftConfig()
    queries: dict[str, Annotated[Query, BeforeValidator(_query_shorthand)]] = Field(default_factory=dict)
    thresholds: dict[str, Annotated[Threshold, BeforeValidator(_threshold_shorthand)]] = Field(
        default_factory=dict
    )
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _thresholds_name_something(self) -> Config:
        for name, threshold in self.thresholds.items():
            if name not in self.queries and name not in MODEL_METRICS:
                known = ", ".join(sorted(self.queries)) or "none"
                raise ValueError(
                    f"threshold {name!r} names no query and no model metric "
                    f"(queries: {known}; model metrics: {', '.join(sorted(MODEL_METRICS))})"
                )
            if name in self.queries:
                continue
            # Events are not stored in time order across writers, so "without a break" is only
            # defined over snapshots; model metrics count events instead.
            if threshold.for_:
                raise ValueError(
                    f"threshold {name!r}: `for` applies to query thresholds; use min_events for model metrics"
                )
            if name in DRIFT_METRICS and threshold.min_events != 1:
                raise ValueError(
                    f"threshold {name!r}: drift is one comparison a day; min_events does not apply"
                )
        return self

    @property
    def storage_url(self) -> StorageURL:
        # Relative storage paths are relative to the working directory, as a user typing them expects.
        return parse_storage_url(self.storage.url)


DEFAULT_QUERIES: dict[str, Any] = {
    # Usage is 1 - idle; the seed measured idle itself. Unit: share of CPU time busy, 0-1, per instance.
    "cpu_usage": {
        "expr": '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))',
        "unit": "ratio",
    },
    # Unit: percent of memory in use, 0-100.
    "memory_usage": {
        "expr": "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
        "unit": "percent",
    },
    # Unit: bytes per second, per device.
    "disk_read_io": {"expr": "rate(node_disk_read_bytes_total[1m])", "unit": "bytes_per_second"},
    "disk_write_io": {"expr": "rate(node_disk_written_bytes_total[1m])", "unit": "bytes_per_second"},
    # Unit: bytes per second, per network interface.
    "network_receive_io": {"expr": "rate(node_network_receive_bytes_total[1m])", "unit": "bytes_per_second"},
    "network_transmit_io": {
        "expr": "rate(node_network_transmit_bytes_total[1m])",
        "unit": "bytes_per_second",
    },
    # Unit: runnable processes averaged over 1 minute (compare with the instance's CPU count). A damped
    # 1-minute average: a value describes roughly the minute before it.
    "system_load": {"expr": "node_load1", "unit": "tasks", "window": "1m"},
    # Unit: seconds. The p95 of prediction time that Monitor exports, summed over processes by le.
    "http_latency": {
        "expr": (
            "histogram_quantile(0.95, sum by (model, instance, le) "
            "(rate(mlprom_prediction_duration_seconds_bucket[5m])))"
        ),
        "unit": "seconds",
    },
    # Short-window and pressure series (node-exporter, Linux PSI): they move within one scrape of a
    # short incident, where a [1m] average of a saturated CPU barely does. Unit: share of wall time.
    "cpu_usage_short": {
        "expr": '1 - avg by (instance) (irate(node_cpu_seconds_total{mode="idle"}[1m]))',
        "unit": "ratio",
    },
    "cpu_pressure": {"expr": "irate(node_pressure_cpu_waiting_seconds_total[1m])", "unit": "ratio"},
    "io_pressure": {"expr": "irate(node_pressure_io_waiting_seconds_total[1m])", "unit": "ratio"},
    "memory_pressure": {"expr": "irate(node_pressure_memory_waiting_seconds_total[1m])", "unit": "ratio"},
    # Unit: processes in the run queue at the scrape.
    "procs_running": {"expr": "node_procs_running", "unit": "tasks"},
}

DEFAULT_THRESHOLDS: dict[str, Any] = {
    "cpu_usage": 0.7,
    "memory_usage": {"warning": 75, "critical": 90},
    "accuracy": {"critical": 0.8, "direction": "below"},
    "prediction_time": {"warning": "5s", "critical": "10s"},
}

_REPLACED_WHOLE = ("queries", "thresholds")


def default_document() -> dict[str, Any]:
    """The built-in configuration as a plain document (what an empty file means)."""
    return {"queries": dict(DEFAULT_QUERIES), "thresholds": copy.deepcopy(DEFAULT_THRESHOLDS)}


# ---------------------------------------------------------------- YAML with line numbers


class _LineMap:
    """Maps a key path (tuple of keys/indexes) in the YAML document to its 1-based line."""

    def __init__(self) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}

    def walk(self, node: yaml.Node, path: tuple[Any, ...], source: str) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key == "<<":
                    continue
                if key in seen:
                    raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
                seen.add(key)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self.walk(value_node, (*path, key), source)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index), source)

    def line_for(self, loc: tuple[Any, ...]) -> int | None:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


def _check_bounds(text: str, source: str) -> None:
    """Refuse, from the event stream and before anything is built, what would take unbounded time or memory:
    deep nesting (the composer recurses), many aliases, and alias bombs (nested anchors whose expansion
    is exponential; walking or copying the document would expand them)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source}: config is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to read it"
        )
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node (absent while the node is open)
    open_anchors: set[str] = set()
    stack: list[list[Any]] = []  # open collections: [expanded size so far, anchor]
    aliases = 0

    def add(size: int, mark: Any) -> None:
        if stack:
            stack[-1][0] += size
            if stack[-1][0] > MAX_YAML_NODES:
                fail(mark, f"expands to more than {MAX_YAML_NODES} values (nested aliases?)")

    def fail(mark: Any, why: str) -> None:
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: refusing the config: {why}")

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                fail(mark, f"more than {MAX_YAML_ALIASES} aliases")
            if event.anchor in open_anchors:
                fail(mark, f"alias *{event.anchor} refers to a node that contains it (a cycle)")
            add(sizes.get(str(event.anchor), 1), mark)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1, mark)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_YAML_DEPTH:
                fail(mark, f"nested deeper than {MAX_YAML_DEPTH} levels")
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            stack.append([1, event.anchor])
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = stack.pop()
            if anchor is not None:
                open_anchors.discard(anchor)
                sizes[anchor] = size
            add(size, mark)


def _bad_string(value: Any, path: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    """The first string (key or value) holding a control character or a lone surrogate, with why."""
    if isinstance(value, str):
        found = _BAD_CHARS.search(value)
        if found:
            char = found.group()
            kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else f"control character {char!r}"
            return path, f"contains {kind}"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            bad = _bad_string(key, (*path, key)) or _bad_string(item, (*path, key))
            if bad:
                return bad
    elif isinstance(value, list):
        for index, item in enumerate(value):
            bad = _bad_string(item, (*path, index))
            if bad:
                return bad
    return None


def _read_yaml(text: str, source: str) -> tuple[dict[str, Any], _LineMap]:
    lines = _LineMap()
    try:
        _check_bounds(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # The safe constructor's own limits: an integer of more than 4300 digits, a date out of range.
        raise ConfigError(f"{source}: invalid YAML: {exc.__class__.__name__}: {str(exc)[:200]}") from None
    if data is None:
        return {}, lines
    if not isinstance(data, dict) or node is None:
        raise ConfigError(
            f"{source}:1: the top level must be a mapping of sections (storage:, prometheus:, ...)"
        )
    lines.walk(node, (), source)
    bad = _bad_string(data, ())
    if bad:
        path, why = bad
        line = lines.line_for(path)
        raise ConfigError(f"{source}:{line or 1}: {_format_loc(path) or '(top level)'}: {why}")
    return data, lines


def _interpolate(value: Any, path: tuple[Any, ...], env: Mapping[str, str], where: Any) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{where(path)}: environment variable {name} is not set (referenced as ${{{name}}})"
            )

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), env, where) for i, v in enumerate(value)]
    return value


def _merge(defaults: dict[str, Any], override: dict[str, Any], top: bool = True) -> dict[str, Any]:
    merged = copy.deepcopy(defaults)
    for key, value in override.items():
        if top and key in _REPLACED_WHOLE:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, top=False)
        else:
            merged[key] = value
    return merged


_SECRET_KEY = re.compile(r"(?i)password|token|secret|headers|auth")


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds validator names ("function-before[...]", "str", ...) to union/annotated locations.
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "float", "int"})))


def _describe_error(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def load_config_text(text: str, source: str = "<string>", env: Mapping[str, str] | None = None) -> Config:
    """Validate YAML text against the built-in defaults; `source` names it in error messages."""
    env = os.environ if env is None else env
    document, lines = _read_yaml(text, source)

    def where(path: tuple[Any, ...]) -> str:
        line = lines.line_for(path)
        return f"{source}:{line}" if line else source

    for key in list(document):
        if not isinstance(key, str):
            raise ConfigError(f"{where((key,))}: keys must be strings, got {key!r}")
    for section in _REPLACED_WHOLE:
        if section in document and document[section] is None:
            raise ConfigError(f"{where((section,))}: {section}: is empty; remove it to use the defaults")
    for section, value in document.items():
        if section in Config.model_fields and section != "source" and not isinstance(value, dict):
            raise ConfigError(
                f"{where((section,))}: {section}: expected a mapping of keys, got {type(value).__name__}"
            )
    document = _interpolate(document, (), env, where)
    bad = _bad_string(document, ())
    if bad:
        raise ConfigError(f"{where(bad[0])}: {_format_loc(bad[0])}: {bad[1]} (after ${{VAR}} substitution)")
    merged = _merge(default_document(), document)
    # Built-in thresholds for queries a file dropped are built-ins, not the user's: drop them too.
    if "queries" in document and "thresholds" not in document:
        merged["thresholds"] = {
            k: v for k, v in merged["thresholds"].items() if k in merged["queries"] or k in MODEL_METRICS
        }
    merged["source"] = source
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _clean_loc(tuple(err.get("loc", ())))
        key = _format_loc(loc) or "(top level)"
        message = _describe_error(err)
        if err.get("type") == "extra_forbidden" and len(loc) >= 1:
            parent = loc[:-1]
            allowed = _allowed_keys(parent)
            if allowed:
                message += f" (allowed here: {', '.join(allowed)})"
        named = re.match(r"threshold '([^']+)'", message)
        if not loc and named:
            # The model-level check of threshold names: point at the threshold's own line.
            path = ("thresholds", named.group(1))
            raise ConfigError(f"{where(path)}: thresholds.{named.group(1)}: {message}") from None
        extra = ""
        secret = any(isinstance(p, str) and _SECRET_KEY.search(p) for p in loc)
        if "input" in err and err.get("type") not in ("extra_forbidden", "value_error", "missing"):
            # Never echo what a secret-bearing key holds (a password given as a number is still a password).
            # Nor a whole section given as text, nor long text: a misplaced line may hold anything.
            shown = err["input"]
            short = not isinstance(shown, str) or len(shown) <= 40
            if not secret and len(loc) > 1 and short and not isinstance(shown, dict | list):
                extra = f" (got {shown!r})"
        from mlprom.clients.http import redact_text

        raise ConfigError(redact_text(f"{where(loc)}: {key}: {message}{extra}")) from None


def _allowed_keys(parent: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for part in parent:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return [field.alias or name for name, field in model.model_fields.items() if name != "source"]


def resolve_config_path(explicit: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """--config, else $MLPROM_CONFIG, else ./mlprom.yaml if it exists, else None (built-in defaults)."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.exists() else None


def load_config(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the config by the contract's lookup order; no file at all means the built-in defaults."""
    path = resolve_config_path(explicit, env)
    if path is None:
        return load_config_text("", "<defaults>", env)
    try:
        with path.open("rb") as handle:
            # Read one byte past the bound: /dev/zero or a 5 GB file is refused without being read.
            body = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read config file: {exc.strerror or exc.__class__.__name__}"
        ) from None
    if len(body) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: config is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to read it"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: config file is not UTF-8 text") from None
    return load_config_text(text, str(path), env)
