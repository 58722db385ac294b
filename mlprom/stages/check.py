"""check: the config is valid and every configured endpoint answers; one line per target."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from mlprom.clients.deadline import scope
from mlprom.clients.http import RetryPolicy, build_session, probe_ready, request
from mlprom.errors import MlpromError, UpstreamError, require_extra
from mlprom.layout import new_object_id
from mlprom.redact import redact_url
from mlprom.reports.results import CheckItem, CheckResult

if TYPE_CHECKING:
    from mlprom.clients.prometheus import PrometheusClient
    from mlprom.config import Config, HTTPEndpoint

log = logging.getLogger("mlprom")

PROBE_PREFIX = "_mlprom_check/"
# check is for smoke tests: fail in seconds, not after a long backoff.
CHECK_RETRY = RetryPolicy(total=1, backoff_factor=0.2, retry_after_cap=2.0)
# Everything check does for one target (every request, retry and wait) ends within this, or within the
# target's own `timeout` when that is shorter; targets are probed concurrently, so check as a whole
# ends within it too (plus start-up).
CHECK_DEADLINE = 10.0


def _check_storage(config: Config) -> str:
    from mlprom.storage import open_storage

    storage = open_storage(config)
    key = f"{PROBE_PREFIX}probe-{new_object_id()}"
    payload = b'{"probe": true}'
    storage.put_bytes(key, payload)
    try:
        if storage.get_bytes(key) != payload:
            raise UpstreamError(f"{storage.location}: probe object {key} read back different bytes")
    finally:
        result = storage.delete_many([key])
        if result.failed:
            raise UpstreamError(f"{storage.location}: cannot delete probe {key}: {result.failed[0][1]}")
    return "write, read and delete of a probe object"


def _check_prometheus(config: Config) -> str:
    from datetime import UTC, datetime

    from mlprom.clients.prometheus import PrometheusClient, QueryError

    session = build_session(config.prometheus, "prometheus", CHECK_RETRY)
    client = PrometheusClient(config.prometheus.url, session, config.prometheus.timeout)
    client.ready()
    try:
        result = client.query("vector(1)", datetime.now(UTC))
    except QueryError as exc:
        raise UpstreamError(f"Prometheus at {client.source}: trivial query refused: {exc}") from None
    if not result.series or result.series[0].value != 1.0:
        raise UpstreamError(f"Prometheus at {client.source}: vector(1) did not return 1")
    return "ready; vector(1) = 1"


def _parse_error(client: PrometheusClient, expr: str) -> str | None:
    """Prometheus' own parser on `expr` (/api/v1/format_query, Prometheus >= 2.38): its error, or None.

    Servers without format_query (Thanos, VictoriaMetrics, older Prometheus) answer 404; the instant
    query that follows then tells a parse error by its errorType bad_data.
    """
    url = f"{client.base_url}/api/v1/format_query"
    response = request(client.session, "POST", url, "Prometheus", client.timeout, data={"query": expr})
    if response.status_code in (404, 405):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("status") == "error" and body.get("errorType") == "bad_data":
        return str(body.get("error", "parse error")).removeprefix('invalid parameter "query": ')
    return None


def _check_queries(config: Config) -> str:
    """Every configured query parses, runs now, and returns series (a warning names those that return none)."""
    from datetime import UTC, datetime

    from mlprom.clients.prometheus import PrometheusClient, QueryError
    from mlprom.errors import ConfigError

    session = build_session(config.prometheus, "prometheus", CHECK_RETRY)
    client = PrometheusClient(config.prometheus.url, session, min(config.prometheus.timeout, 10.0))
    now = datetime.now(UTC)
    unparsed: list[str] = []
    refused: list[str] = []
    empty: list[str] = []
    for name, query in config.queries.items():
        error = _parse_error(client, query.expr)
        if error is not None:
            unparsed.append(f"{name}: {error}")
            continue
        try:
            result = client.query(query.expr, now)
        except QueryError as exc:
            (unparsed if str(exc).startswith("bad_data") else refused).append(f"{name}: {exc}")
            continue
        if not result.series:
            empty.append(name)
    if unparsed:
        what = "1 query does not parse" if len(unparsed) == 1 else f"{len(unparsed)} queries do not parse"
        raise ConfigError(f"{what}: " + "; ".join(unparsed))
    if refused:
        raise UpstreamError(f"Prometheus at {client.source} refused: " + "; ".join(refused))
    for name in empty:
        # A misspelt metric name parses and returns nothing: say so, it is not an error.
        log.warning("check: query %s returned no series at %s", name, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    detail = f"{len(config.queries)} parse and run"
    return detail + (f"; no series now: {', '.join(empty)}" if empty else "")


def _check_ready(endpoint: HTTPEndpoint, url: str, name: str, what: str) -> Callable[[Config], str]:
    def probe(_: Config) -> str:
        probe_ready(build_session(endpoint, name, CHECK_RETRY), url, what, endpoint.timeout)
        return "ready"

    return probe


def _mlflow_uri(config: Config) -> str | None:
    # Only checked when configured: MLflow's own default (./mlruns) is not an endpoint to reach.
    return config.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")


def _check_mlflow(config: Config) -> str:
    from mlprom.clients.mlflow_tracking import describe_uri, mlflow_call, quiet_mlflow

    uri = _mlflow_uri(config)
    assert uri is not None
    if uri.startswith(("http://", "https://")):
        # /health answers without importing mlflow here (seconds: docs/benchmarks.md) or touching the store.
        from mlprom.clients.mlflow_tracking import get_health

        answer = get_health(uri, CHECK_DEADLINE, CHECK_RETRY, "MLflow")
        if answer.status_code != 200:
            raise UpstreamError(f"MLflow at {describe_uri(uri)}: /health answered {answer.describe()}")
        if answer.is_html:
            raise UpstreamError(f"MLflow at {describe_uri(uri)}: /health answered with an HTML page")
        return "tracking server healthy"
    require_extra(("mlflow",), "mlflow", f"checking the MLflow store {describe_uri(uri)}")
    quiet_mlflow()
    with mlflow_call("listing experiments", uri):
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    return "tracking store answers"


def _targets(config: Config) -> list[tuple[str, str, Callable[[Config], str]]]:
    from mlprom.storage import open_storage  # noqa: F401 - imported here so a broken boto3 shows as storage

    targets: list[tuple[str, str, Callable[[Config], str]]] = [
        ("storage", str(config.storage_url), _check_storage),
        ("prometheus", redact_url(config.prometheus.url), _check_prometheus),
    ]
    if config.queries:
        targets.append(("queries", redact_url(config.prometheus.url), _check_queries))
    for url in config.alertmanager.urls:
        targets.append(
            (
                "alertmanager",
                redact_url(url),
                _check_ready(config.alertmanager, url, "alertmanager", "Alertmanager"),
            )
        )
    if config.pushgateway.url:
        targets.append(
            (
                "pushgateway",
                redact_url(config.pushgateway.url),
                _check_ready(config.pushgateway, config.pushgateway.url, "pushgateway", "Pushgateway"),
            )
        )
    uri = _mlflow_uri(config)
    if uri:
        from mlprom.clients.mlflow_tracking import describe_uri

        targets.append(("mlflow", describe_uri(uri), _check_mlflow))
    return targets


def _target_deadline(config: Config, name: str) -> float:
    timeouts = {
        "storage": config.storage.timeout,
        "prometheus": config.prometheus.timeout,
        "queries": config.prometheus.timeout,  # every query's parse and run, together
        "alertmanager": config.alertmanager.timeout,
        "pushgateway": config.pushgateway.timeout,
    }
    if name == "mlflow":
        from mlprom.clients.mlflow_tracking import PROBE_TIMEOUT

        return min(PROBE_TIMEOUT, CHECK_DEADLINE)
    return min(timeouts.get(name, CHECK_DEADLINE), CHECK_DEADLINE)


def _probe(config: Config, target: tuple[str, str, Callable[[Config], str]]) -> CheckItem:
    name, endpoint, probe = target
    try:
        with scope(_target_deadline(config, name)):
            return CheckItem(name, endpoint, True, probe(config))
    except MlpromError as exc:
        return CheckItem(name, endpoint, False, str(exc), exc.exit_code)


def run(config: Config) -> CheckResult:
    """Probe every configured target concurrently; the config itself was valid or we would not be here."""
    config_item = CheckItem(
        "config",
        config.source or "<defaults>",
        True,
        f"{len(config.queries)} queries, {len(config.thresholds)} thresholds",
    )
    targets = _targets(config)
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        items = list(pool.map(lambda t: _probe(config, t), targets))
    # The table (or JSON) on stdout is the result; a failure also goes to stderr, so `check -q` in cron
    # or CI still says which target failed and why.
    for item in items:
        if not item.ok:
            log.warning("check: %s failed: %s", item.target, item.detail)
    return CheckResult((config_item, *items))
