"""Pushgateway heartbeats: each stage pushes when it last succeeded, how long it took and what it counted.

The body is prometheus_client's own text exposition (HELP and TYPE for every family), sent through
clients/http.py's request(), so the push has the same retries and deadline as every other call.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from mlprom.clients.http import build_session, request
from mlprom.errors import UpstreamError
from mlprom.redact import redact_url

if TYPE_CHECKING:
    from mlprom.config import Config

# A heartbeat key is a metric name, optionally with labels in exposition syntax: mlprom_findings{severity="x"}.
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?$")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="([^"\\]*)"\s*(?:,|$)')

# One HELP text per family, true for every stage that pushes it: the Pushgateway serves each family once for
# all groups (stages, models), with a single HELP; a family several stages push must not name one of them.
HELP = {
    # Pushed by every stage.
    "mlprom_last_success_timestamp_seconds": (
        "Unix time a run of the stage (label stage) last ran to completion; a run that fails pushes nothing."
    ),
    "mlprom_last_run_duration_seconds": "Seconds the last completed run of the stage (label stage) took.",
    "mlprom_partial_failures": (
        "Parts of the stage's last run that failed while the rest was done and stored "
        "(queries, snapshots, replicas, objects); 0 for a clean run."
    ),
    # Pushed by one stage each.
    "mlprom_findings": "Findings in the date's report, by severity.",
    "mlprom_infra_series": "Series stored by the last capture-infra snapshot.",
    "mlprom_infra_range_objects": "Range objects the last capture-infra --from/--to stored or repaired.",
    "mlprom_infra_range_points": "Points the last capture-infra --from/--to archived.",
    "mlprom_alerts_firing": "Firing alerts the last alert run sent.",
    "mlprom_alerts_resolved": "Resolved alerts the last alert run sent.",
    "mlprom_alerts_undelivered": "Alerts of the last alert run that no Alertmanager took.",
    "mlprom_alertmanagers_failed": "Alertmanagers that did not take every alert of the last alert run.",
    "mlprom_check_failures": "Targets the last check could not reach or validate.",
    "mlprom_prune_deleted_objects": "Objects the last prune deleted.",
    "mlprom_prune_deleted_bytes": "Bytes the last prune deleted.",
    "mlprom_prune_failed_objects": "Objects the last prune failed to delete or did not try.",
    "mlprom_profile_days": "Dates whose stored profile entered the last profile forecast.",
    "mlprom_profile_missing_days": "Dates of the last profile range without a usable stored profile.",
    "mlprom_profile_peaks": "Peak hours the last profile forecast names.",
    "mlprom_capture_model_rows": "Input rows the last capture-model ran the model on.",
    "mlprom_capture_model_batches": "Batches the last capture-model timed.",
    "mlprom_capture_model_slow_batches": "Batches of the last capture-model slower than model.latency_threshold.",
    "mlprom_capture_model_events": "Events the last capture-model stored.",
    "mlprom_capture_model_prediction_time_p95_seconds": "95th percentile of batch prediction time, last capture.",
    "mlprom_capture_model_accuracy": "Accuracy over the labelled rows of the last capture-model.",
    "mlprom_capture_model_rmse": "Root mean squared error over the labelled rows of the last capture-model.",
}


def parse_sample(key: str) -> tuple[str, dict[str, str]]:
    """'name' or 'name{a="b",c="d"}' -> (name, labels); a malformed key is a programming error."""
    match = _SAMPLE.match(key)
    if match is None:
        raise ValueError(f"heartbeat key {key!r} is not a metric name with optional labels")
    name, body = match.group(1), match.group(2) or ""
    labels: dict[str, str] = {}
    position = 0
    while position < len(body):
        label = _LABEL.match(body, position)
        if label is None:
            raise ValueError(f"heartbeat key {key!r}: malformed labels")
        labels[label.group(1)] = label.group(2)
        position = label.end()
    return name, labels


def metric_name(stage: str, key: str) -> str:
    # Every family is prefixed mlprom_; a stage's bare counters get its name too (mlprom_capture_model_rows).
    return key if key.startswith("mlprom_") else f"mlprom_{stage.replace('-', '_')}_{key}"


def _fallback_help(stage: str, bare: str) -> str:
    # A bare key's family carries the stage's name, so naming the stage is true; a family named in full
    # might be pushed by other stages too, so its text does not name one.
    words = bare.removeprefix("mlprom_").replace("_", " ")
    return f"mlprom: {words}." if bare.startswith("mlprom_") else f"mlprom {stage}: {words}."


def heartbeat_body(stage: str, duration: float, extra: dict[str, float], now: float | None = None) -> bytes:
    """The group's metrics in the Prometheus text format (0.0.4), one gauge family per name."""
    from prometheus_client import CollectorRegistry, Gauge
    from prometheus_client.exposition import generate_latest

    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    values = {
        "mlprom_last_success_timestamp_seconds": time.time() if now is None else now,
        "mlprom_last_run_duration_seconds": duration,
        **extra,
    }
    helps: dict[str, str] = {}
    for key, value in values.items():
        bare, labels = parse_sample(key)
        name = metric_name(stage, bare)
        samples.setdefault(name, []).append((labels, float(value)))
        helps[name] = HELP.get(name) or _fallback_help(stage, bare)
    registry = CollectorRegistry()
    for name, points in samples.items():
        label_names = sorted({label for labels, _ in points for label in labels})
        gauge = Gauge(name, helps[name], label_names, registry=registry)
        for labels, value in points:
            (gauge.labels(**{n: labels.get(n, "") for n in label_names}) if label_names else gauge).set(value)
    return generate_latest(registry)


def group_path(stage: str, model: str) -> str:
    # Grouped by job, stage and model, with no instance label: the convention for batch jobs, and one
    # group per model so a failing model's heartbeat is not refreshed by another model's run.
    return f"/metrics/job/mlprom/stage/{quote(stage, safe='')}/model/{quote(model, safe='')}"


def push_heartbeat(config: Config, stage: str, duration: float, extra: dict[str, float]) -> None:
    """PUT the stage's group (replacing its previous values); raises UpstreamError on failure."""
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    assert config.pushgateway.url is not None
    session = build_session(config.pushgateway, "pushgateway")
    url = config.pushgateway.url + group_path(stage, config.model.name)
    # One call within pushgateway.timeout, retries included (clients.http.request).
    answer = request(
        session,
        "PUT",
        url,
        "Pushgateway",
        config.pushgateway.timeout,
        max_bytes=64 * 1024,
        data=heartbeat_body(stage, duration, extra),
        headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4},
    )
    if answer.status_code >= 300:
        raise UpstreamError(f"Pushgateway at {redact_url(url)}: {answer.describe()}: {answer.snippet(200)}")
    if answer.is_html:
        raise UpstreamError(f"Pushgateway at {redact_url(url)}: answered with an HTML page, not its API")
