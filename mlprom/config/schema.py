"""The config's shape: frozen pydantic models with their defaults and checks, and the built-in document.

What a file may say and what it means; reading the file is config/loader.py's.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mlprom.config.durations import parse_duration, parse_timeout
from mlprom.config.storage_url import StorageURL, parse_storage_url
from mlprom.errors import ConfigError

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

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # fullmatch: "name\\n" is not a name


def check_model_name(value: str) -> str:
    """`value` when it is a model name (`model.name`, `Monitor(name=...)`), else ValueError naming it.

    The name is a path segment of the storage layout (`model=NAME`) and a label value: a '/', a line
    break or a space would put events where no reader looks.
    """
    if not isinstance(value, str) or not _MODEL_NAME.fullmatch(value):
        raise ValueError(
            f"model name {value!r}: start with a letter or digit; use only letters, digits, '.', '_', '-'"
            " (at most 128)"
        )
    return value


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Labels every alert already carries; a static label may not replace them.
ALERT_LABELS = frozenset({"alertname", "severity", "model", "metric", "suspect", "series_name"})
# Drift compares whole days once: persistence (for, min_events) has nothing to count there.
DRIFT_METRICS = frozenset({"drift_psi", "drift_ks_pvalue", "drift_wasserstein", "accuracy_drop"})


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


def _parse_step(value: Any) -> float | str:
    return "auto" if value == "auto" else parse_duration(value)


StepSetting = Annotated[float | Literal["auto"], BeforeValidator(_parse_step)]


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

    from mlprom.redact import redact_url

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


_AWS_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")  # a region (eu-west-1) or a signing name (aps)
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


class SigV4(_Frozen):
    """AWS Signature Version 4 for Amazon Managed Service for Prometheus (clients/sigv4.py signs)."""

    region: str
    role_arn: str | None = None  # assumed with STS from the credentials chain's identity
    service: str = "aps"

    @field_validator("region", "service")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _AWS_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an AWS region or service name (like eu-west-1, aps)")
        return value

    @field_validator("role_arn")
    @classmethod
    def _valid_role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_ARN.fullmatch(value):
            raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
        return value


class PrometheusConfig(HTTPEndpoint):
    url: str = "http://localhost:9090"
    sigv4: SigV4 | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return _check_http_url(value)

    @model_validator(mode="after")
    def _one_authentication(self) -> PrometheusConfig:
        # SigV4 owns the Authorization header: a second credential would replace the signature or be
        # sent beside it, and the server would refuse the request either way.
        if self.sigv4 is None:
            return self
        from mlprom.redact import split_url

        parts = split_url(self.url)
        others = [
            name
            for name, given in (
                ("bearer_token_file", self.bearer_token_file),
                ("basic_auth", self.basic_auth.username or self.basic_auth.password_file),
                ("credentials in url", parts is not None and parts[1]),
                ("an Authorization header", any(h.lower() == "authorization" for h in self.headers)),
            )
            if given
        ]
        if others:
            raise ValueError(f"sigv4 signs every request; it cannot be used with {' and '.join(others)}")
        return self


class AlertmanagerConfig(HTTPEndpoint):
    urls: list[str] = Field(default_factory=lambda: ["http://localhost:9093"])
    resend_ttl: Duration = 3600.0
    runbook_url: str | None = None
    # A report covers a whole day; without this a 03:00 spike keeps firing until the day ends.
    clear_after: Duration | None = None
    labels: dict[str, str] = Field(default_factory=dict)  # static labels on every alert, for routing
    # The `mlprom rules` file is loaded in Prometheus: `alert` leaves the query thresholds to it, or
    # Alertmanager gets two alerts for every series past a level.
    rules_deployed: bool = False
    # A query threshold's finding is this model's alert only when slow predictions of the model came while
    # the series was past its level ("slow"); "always": every breach of the date, slow or not. In a fleet
    # sharing one Prometheus, "always" pages every model for one instance's breach.
    infra_alerts: Literal["slow", "always"] = "slow"

    @field_validator("urls")
    @classmethod
    def _valid_urls(cls, value: list[str]) -> list[str]:
        return [_check_http_url(u) for u in value]

    @field_validator("runbook_url")
    @classmethod
    def _valid_runbook_url(cls, value: str | None) -> str | None:
        # A link on-call clicks from a notification: javascript: or data: there would run in their browser.
        if value is not None:
            _check_http_url(value)
        return value

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
    log_report: bool = True  # correlate: the report as an artifact of the newest run the date's events name

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
        return check_model_name(value)


class CorrelateConfig(_Frozen):
    max_skew: Duration = 300.0
    # Where infra values come from (docs/correlation.md): stored snapshots, Prometheus' range API, or
    # snapshots first and history for the gaps.
    infra_source: Literal["auto", "snapshots", "prometheus"] = "auto"
    # History's resolution: `auto` chooses it from the targets' scrape interval and the slow events
    # (mlprom/infra/resolution.py); a duration fixes it.
    step: StepSetting = "auto"
    fdr: float = Field(default=0.05, gt=0.0, lt=1.0)  # Benjamini-Hochberg false discovery rate
    max_lag: Duration = 300.0  # how long before slow predictions a series may rise and still count

    @field_validator("step")
    @classmethod
    def _positive_step(cls, value: float | Literal["auto"]) -> float | Literal["auto"]:
        if value != "auto" and value < 1.0:
            raise ValueError(f"step must be at least 1s, got {value:g}s")
        return value

    @property
    def step_seconds(self) -> float:
        """The history step in seconds, once `auto` was resolved (mlprom.infra.resolution.with_step)."""
        if self.step == "auto":
            raise RuntimeError("correlate.step auto is resolved before it is used (mlprom.infra.resolution)")
        return self.step


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
    # The way this series moves when it causes slow predictions (docs/correlation.md, "Direction and
    # role"): a suspect that moved the other way is a consequence. Unknown queries: both ways can cause.
    direction: Literal["rise", "fall", "both"] = "both"

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


ModelName = Annotated[str, AfterValidator(check_model_name)]


class ModelOverride(_Frozen):
    """One model's own settings under `models: {NAME: ...}`, applied over the shared config when that
    model runs (`Config.for_model`): its latency threshold, its thresholds merged name by name over the
    shared ones (a name given replaces that threshold whole), and static alert labels merged over
    `alertmanager.labels`. Everything else (storage, queries, upstreams) is shared by the fleet."""

    latency_threshold: Duration | None = None
    thresholds: dict[str, Annotated[Threshold, BeforeValidator(_threshold_shorthand)]] = Field(
        default_factory=dict
    )
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return AlertmanagerConfig._valid_labels(value)


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
    models: dict[ModelName, ModelOverride] = Field(default_factory=dict)
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _thresholds_name_something(self) -> Config:
        every = [(f"threshold {name!r}", name, t) for name, t in self.thresholds.items()]
        for model, override in self.models.items():
            every += [
                (f"models.{model}: threshold {name!r}", name, t) for name, t in override.thresholds.items()
            ]
        for what, name, threshold in every:
            if name not in self.queries and name not in MODEL_METRICS:
                known = ", ".join(sorted(self.queries)) or "none"
                raise ValueError(
                    f"{what} names no query and no model metric "
                    f"(queries: {known}; model metrics: {', '.join(sorted(MODEL_METRICS))})"
                )
            if name in self.queries:
                continue
            # Events are not stored in time order across writers, so "without a break" is only
            # defined over snapshots; model metrics count events instead.
            if threshold.for_:
                raise ValueError(
                    f"{what}: `for` applies to query thresholds; use min_events for model metrics"
                )
            if name in DRIFT_METRICS and threshold.min_events != 1:
                raise ValueError(f"{what}: drift is one comparison a day; min_events does not apply")
        return self

    def for_model(self, name: str) -> Config:
        """The config one model runs with: `model.name` set to `name` and its `models:` overrides
        applied (a model without any gets the shared settings). `name` is checked like model.name."""
        check_model_name(name)
        override = self.models.get(name, ModelOverride())
        model = self.model.model_copy(
            update={"name": name}
            | (
                {}
                if override.latency_threshold is None
                else {"latency_threshold": override.latency_threshold}
            )
        )
        return self.model_copy(
            update={
                "model": model,
                "thresholds": self.thresholds | override.thresholds,
                "alertmanager": self.alertmanager.model_copy(
                    update={"labels": self.alertmanager.labels | override.labels}
                ),
            }
        )

    @property
    def storage_url(self) -> StorageURL:
        # Relative storage paths are relative to the working directory, as a user typing them expects.
        return parse_storage_url(self.storage.url)


_CPU_IDLE = 'node_cpu_seconds_total{mode=~"idle|iowait"}'
DEFAULT_QUERIES: dict[str, Any] = {
    # Usage is 1 - (idle + iowait), averaged over the instance's CPUs. iowait is idle time (the CPU had
    # nothing to run while a task waited for its disk): counted as busy, a disk incident reads as a CPU one.
    # Unit: share of CPU time busy, 0-1, per instance.
    "cpu_usage": {
        "expr": f"1 - avg by (instance) (sum without (mode) (rate({_CPU_IDLE}[1m])))",
        "unit": "ratio",
        "direction": "rise",
    },
    # Unit: percent of memory in use, 0-100.
    "memory_usage": {
        "expr": "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
        "unit": "percent",
        "direction": "rise",
    },
    # Unit: bytes per second, summed over the instance's devices: one series per instance, as
    # docs/scaling.md advises (per-device series multiply what a snapshot stores and correlate holds).
    "disk_read_io": {
        "expr": "sum by (instance) (rate(node_disk_read_bytes_total[1m]))",
        "unit": "bytes_per_second",
        "direction": "rise",
    },
    "disk_write_io": {
        "expr": "sum by (instance) (rate(node_disk_written_bytes_total[1m]))",
        "unit": "bytes_per_second",
        "direction": "rise",
    },
    # Unit: bytes per second, summed over the instance's network interfaces (loopback included).
    "network_receive_io": {
        "expr": "sum by (instance) (rate(node_network_receive_bytes_total[1m]))",
        "unit": "bytes_per_second",
        "direction": "rise",
    },
    "network_transmit_io": {
        "expr": "sum by (instance) (rate(node_network_transmit_bytes_total[1m]))",
        "unit": "bytes_per_second",
        "direction": "rise",
    },
    # Unit: runnable processes averaged over 1 minute (compare with the instance's CPU count). A damped
    # 1-minute average: a value describes roughly the minute before it.
    "system_load": {"expr": "node_load1", "unit": "tasks", "direction": "rise", "window": "1m"},
    # Unit: seconds. The p95 of prediction time that Monitor exports, summed over processes by le.
    "http_latency": {
        "expr": (
            "histogram_quantile(0.95, sum by (model, instance, le) "
            "(rate(mlprom_prediction_duration_seconds_bucket[5m])))"
        ),
        "unit": "seconds",
        "direction": "rise",
    },
    # Short-window and pressure series (node-exporter, Linux PSI): they move within one scrape of a
    # short incident, where a [1m] average of a saturated CPU barely does. Unit: share of wall time.
    "cpu_usage_short": {
        "expr": f"1 - avg by (instance) (sum without (mode) (irate({_CPU_IDLE}[1m])))",
        "unit": "ratio",
        "direction": "rise",
    },
    "cpu_pressure": {
        "expr": "irate(node_pressure_cpu_waiting_seconds_total[1m])",
        "unit": "ratio",
        "direction": "rise",
    },
    "io_pressure": {
        "expr": "irate(node_pressure_io_waiting_seconds_total[1m])",
        "unit": "ratio",
        "direction": "rise",
    },
    "memory_pressure": {
        "expr": "irate(node_pressure_memory_waiting_seconds_total[1m])",
        "unit": "ratio",
        "direction": "rise",
    },
    # Unit: processes in the run queue at the scrape.
    "procs_running": {"expr": "node_procs_running", "unit": "tasks", "direction": "rise"},
}

DEFAULT_THRESHOLDS: dict[str, Any] = {
    "cpu_usage": 0.7,
    "memory_usage": {"warning": 75, "critical": 90},
    "accuracy": {"critical": 0.8, "direction": "below"},
    "prediction_time": {"warning": "5s", "critical": "10s"},
}


def default_document() -> dict[str, Any]:
    """The built-in configuration as a plain document (what an empty file means)."""
    return {"queries": dict(DEFAULT_QUERIES), "thresholds": copy.deepcopy(DEFAULT_THRESHOLDS)}
