"""check: the config is valid and every configured endpoint answers; one line per target."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from mlprom.clients.deadline import scope
from mlprom.clients.http import RetryPolicy, build_session, probe_ready, request
from mlprom.errors import ConfigError, MlpromError, UpstreamError
from mlprom.layout import new_object_id
from mlprom.redact import printable, redact_url
from mlprom.reports.results import CheckItem, CheckResult

if TYPE_CHECKING:
    from mlprom.clients.prometheus import PrometheusClient, ScrapeTarget
    from mlprom.config import Config, HTTPEndpoint

log = logging.getLogger("mlprom")

PROBE_PREFIX = "_mlprom_check/"
# check is for smoke tests: fail in seconds, not after a long backoff.
CHECK_RETRY = RetryPolicy(total=1, backoff_factor=0.2, retry_after_cap=2.0)
# Everything check does for one target (every request, retry and wait) ends within this, or within the
# target's own `timeout` when that is shorter; targets are probed concurrently, so check as a whole
# ends within it too (plus start-up).
CHECK_DEADLINE = 10.0
# A range shorter than this many scrape intervals holds too few samples: rate() needs two, and one missed
# scrape leaves a [1m] rate over 30 s scrapes with a single sample and no value.
MIN_SCRAPES_PER_WINDOW = 4
# A job named by an equality matcher (job="node"): its targets' interval is the one the window spans.
_JOB_MATCHER = re.compile(r"\bjob\s*=\s*\"((?:[^\"\\]|\\.)*)\"")


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
    _warn_rules_overlap(config, client)
    return "ready; vector(1) = 1"


def _rule_groups(client: PrometheusClient) -> set[str] | None:
    """The names of the alerting rule groups Prometheus has loaded (GET /api/v1/rules); None when it
    cannot say (no rules API, an error, an answer not in Prometheus' shape)."""
    url = f"{client.base_url}/api/v1/rules"
    try:
        answer = request(client.session, "GET", url, "Prometheus", client.timeout, params={"type": "alert"})
        body = answer.json() if answer.status_code == 200 else None
    except (MlpromError, ValueError):
        return None
    data = body.get("data") if isinstance(body, dict) and body.get("status") == "success" else None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        return None
    return {g["name"] for g in groups if isinstance(g, dict) and isinstance(g.get("name"), str)}


def _warn_rules_overlap(config: Config, client: PrometheusClient) -> None:
    """One warning when `alert` and Prometheus would both alert on the query thresholds (the rule file is
    loaded and alertmanager.rules_deployed is false), or neither would (the other way round)."""
    from mlprom.stages.rules import exported_thresholds, thresholds_group

    if not exported_thresholds(config):
        return
    groups = _rule_groups(client)
    if groups is None:
        log.info(
            "check: Prometheus at %s did not list its rules; not compared with rules_deployed", client.source
        )
        return
    group = thresholds_group(config.model.name)
    loaded = group in groups
    if loaded and not config.alertmanager.rules_deployed:
        log.warning(
            "check: Prometheus at %s has the rule group %s loaded and alertmanager.rules_deployed is false: "
            "Alertmanager gets two alerts per series past a query threshold; set rules_deployed: true",
            client.source,
            printable(group, 200),
        )
    elif not loaded and config.alertmanager.rules_deployed:
        log.warning(
            "check: alertmanager.rules_deployed is true but Prometheus at %s has no rule group %s: "
            "nothing alerts on the query thresholds; load `mlprom rules` there or set rules_deployed: false",
            client.source,
            printable(group, 200),
        )


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
    short = _warn_short_windows(config, client)
    detail = f"{len(config.queries)} parse and run"
    detail += f"; no series now: {', '.join(empty)}" if empty else ""
    return detail + (f"; window under {MIN_SCRAPES_PER_WINDOW} scrapes: {', '.join(short)}" if short else "")


def _scrape_interval_of(expr: str, targets: tuple[ScrapeTarget, ...]) -> tuple[float, str] | None:
    """The scrape interval `expr`'s windows must span, and whose it is: the largest of the targets of the
    jobs it names (job="..."), else the largest of all active targets; None when no target says."""
    jobs = set(_JOB_MATCHER.findall(expr))
    named = [t.interval_seconds for t in targets if t.job in jobs and t.interval_seconds is not None]
    if named:
        return max(named), "job " + ", ".join(sorted(jobs))
    every = [t.interval_seconds for t in targets if t.interval_seconds is not None]
    return (max(every), f"largest of {len(every)} active target(s)") if every else None


def _warn_short_windows(config: Config, client: PrometheusClient) -> list[str]:
    """One warning per query with a range shorter than MIN_SCRAPES_PER_WINDOW scrape intervals (the
    targets API's scrapeInterval); the names of those queries."""
    from mlprom.config.durations import parse_duration
    from mlprom.stages.rules import format_duration, range_windows

    windows = {name: range_windows(query.expr) for name, query in config.queries.items()}
    if not any(windows.values()):
        return []
    try:
        targets = client.targets()
    except UpstreamError as exc:
        log.info("check: rate windows not compared with the scrape interval: %s", exc)
        return []
    short = []
    for name, ranges in windows.items():
        interval = _scrape_interval_of(config.queries[name].expr, targets) if ranges else None
        if interval is None:
            continue
        seconds, whose = interval
        shortest = min(ranges, key=parse_duration)
        if parse_duration(shortest) >= MIN_SCRAPES_PER_WINDOW * seconds:
            continue
        short.append(name)
        log.warning(
            "check: query %s: window [%s] spans %.3g scrape(s) of %s (%s); use [%s] or more",
            name,
            shortest,
            parse_duration(shortest) / seconds,
            format_duration(seconds),
            printable(whose, 200),
            format_duration(MIN_SCRAPES_PER_WINDOW * seconds),
        )
    return short


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
    if importlib.util.find_spec("mlflow") is None:
        # The lean install: only capture-model uses the store, and it says which extra it needs.
        return "not checked: a store other than a tracking server needs mlflow (pip install 'mlprom[mlflow]')"
    from mlprom.clients.mlflow_tracking import require_store_support

    try:
        require_store_support(uri)
    except ConfigError as exc:
        # mlflow-skinny (the `tracking` extra) cannot open a database store; capture-model says the same.
        return f"not checked: {exc}"
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
