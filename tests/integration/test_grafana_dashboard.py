"""examples/grafana/mlprom-dashboard.json: Grafana's classic dashboard model, queries the real Prometheus
parses, a staleness panel per pipeline stage, and heartbeat queries that find a real pushed heartbeat."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from mlprom.analysis.findings import Finding
from mlprom.clients.pushgateway import push_heartbeat
from mlprom.config import load_config_text
from mlprom.reports.correlation import CorrelationReport, EventCounts
from tests.fixtures.servers import PrometheusStack, free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "examples" / "grafana" / "mlprom-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# The parts of Grafana's classic dashboard model (schemaVersion 36+) this dashboard relies on, strictly:
# what Grafana needs to place a panel, query Prometheus and label the axis.
_GRID = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
_TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "datasource": {"const": DATASOURCE},
        "legendFormat": {"type": "string"},
        "instant": {"type": "boolean"},
        "range": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_QUERY_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "description", "datasource", "gridPos", "targets", "fieldConfig"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["timeseries", "stat"]},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "datasource": {"const": DATASOURCE},
        "gridPos": _GRID,
        "targets": {"type": "array", "minItems": 1, "items": _TARGET},
        "fieldConfig": {
            "type": "object",
            "required": ["defaults", "overrides"],
            "properties": {
                # A unit on every panel: Grafana's unit ids (s, ops, percentunit, short).
                "defaults": {
                    "type": "object",
                    "required": ["unit"],
                    "properties": {"unit": {"type": "string"}},
                }
            },
        },
        "options": {"type": "object"},
    },
    "additionalProperties": False,
}
_ROW_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos", "collapsed", "panels"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"const": "row"},
        "title": {"type": "string", "minLength": 1},
        "gridPos": _GRID,
        "collapsed": {"type": "boolean"},
        "panels": {"type": "array", "maxItems": 0},
    },
    "additionalProperties": False,
}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time", "timezone"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "timezone": {"const": "utc"},
        "time": {"type": "object", "required": ["from", "to"]},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "if": {"properties": {"type": {"const": "row"}}},
                "then": _ROW_PANEL,
                "else": _QUERY_PANEL,
            },
        },
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name", "type"]},
                }
            },
        },
    },
}

# Grafana's interpolation for these variables before a query reaches Prometheus.
VARIABLES = {"$__rate_interval": "1m", "$model": ".*"}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def query_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def interpolate(expr: str, model: str = ".*") -> str:
    out = expr.replace("$__rate_interval", VARIABLES["$__rate_interval"]).replace("$model", model)
    assert "$" not in out, f"a variable Grafana would not resolve: {expr}"
    return out


def pipeline_stages() -> set[str]:
    """The stages that push a heartbeat: every _run_stage(ctx, "NAME", ...) call of the CLI without
    heartbeat=False (readers such as `report` push none)."""
    source = (ROOT / "mlprom" / "cli.py").read_text()
    calls = re.findall(r'_run_stage\(\s*ctx,\s*"([a-z-]+)"([^\n]*)', source)
    return {name for name, rest in calls if "heartbeat=False" not in rest}


def test_the_dashboard_follows_grafanas_dashboard_model() -> None:
    jsonschema.validate(dashboard(), SCHEMA)


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
    for panel in query_panels():
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_the_variables_are_a_prometheus_datasource_and_the_model() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    model = variables["model"]
    assert model["type"] == "query" and model["datasource"] == DATASOURCE
    assert model["includeAll"] is True and model["allValue"] == ".*"


def test_every_pipeline_stage_has_a_staleness_panel_with_thresholds() -> None:
    stages = pipeline_stages()
    assert {"capture-infra", "capture-model", "correlate", "alert", "prune", "check"} <= stages
    staleness = {}
    for panel in query_panels():
        for target in panel["targets"]:
            found = re.search(
                r'mlprom_last_success_timestamp_seconds\{[^}]*stage="([a-z-]+)"', target["expr"]
            )
            if found and target["expr"].startswith("time() - "):
                staleness[found.group(1)] = panel
    assert set(staleness) == stages
    for stage, panel in staleness.items():
        assert panel["type"] == "stat" and panel["fieldConfig"]["defaults"]["unit"] == "s"
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["color"] for s in steps] == ["green", "orange", "red"], stage
        assert steps[1]["value"] < steps[2]["value"], stage
        assert "never" in panel["fieldConfig"]["defaults"]["noValue"]


def test_every_query_parses_in_prometheus(prometheus_stack: PrometheusStack) -> None:
    exprs = [t["expr"] for p in query_panels() for t in p["targets"]]
    exprs += [
        re.sub(r"^label_values\((.*), \w+\)$", r"\1", v["definition"])
        for v in dashboard()["templating"]["list"]
        if v.get("definition")
    ]
    assert len(exprs) >= 14
    for expr in exprs:
        answer = requests.post(
            prometheus_stack.prometheus_url + "/api/v1/format_query",
            data={"query": interpolate(expr)},
            timeout=10,
        ).json()
        assert answer["status"] == "success", (expr, answer)


def _wait_for(stack: PrometheusStack, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(stack.prometheus_url + "/api/v1/query", params={"query": expr}, timeout=5).json()
        if body["status"] == "success" and body["data"]["result"]:
            return list(body["data"]["result"])
        time.sleep(0.5)
    pytest.fail(f"no result for {expr} within {timeout}s")


def test_heartbeat_panels_find_the_heartbeats_mlprom_pushes(prometheus_stack: PrometheusStack) -> None:
    model = f"grafana{int(time.time() * 1000) % 10**9}"  # no regex metacharacters: it stands in for $model
    config = load_config_text(
        f"pushgateway: {{url: '{prometheus_stack.pushgateway_url}'}}\nmodel: {{name: {model}}}\n"
    )
    report = CorrelationReport(
        date=date(2026, 11, 20),
        generated_at=datetime(2026, 11, 21, tzinfo=UTC),
        status="critical",
        events=EventCounts(10, 2),
        snapshots=3,
        findings=(
            Finding("critical", "cpu_usage", {}, 0.95, 0.9, "above", 2, datetime.now(UTC), datetime.now(UTC)),
        ),
        model=model,
    )
    for stage in sorted(pipeline_stages()):
        push_heartbeat(config, stage, 1.5, report.heartbeat() if stage == "correlate" else {})

    for panel in query_panels():
        for target in panel["targets"]:
            if "mlprom_last_" not in target["expr"] and "mlprom_findings" not in target["expr"]:
                continue
            result = _wait_for(prometheus_stack, interpolate(target["expr"], model=model))
            assert {r["metric"].get("model") for r in result} == {model}, panel["title"]
            values = [float(r["value"][1]) for r in result]
            if target["expr"].startswith("time() - "):
                assert all(0 <= v < 600 for v in values), (panel["title"], values)  # just pushed
            if "mlprom_findings" in target["expr"]:
                assert sum(values) == 1.0, values  # the one critical finding


def test_monitor_panels_find_what_monitor_exports(prometheus_stack: PrometheusStack) -> None:
    from prometheus_client import CollectorRegistry, start_http_server

    PredictionMetrics = importlib.import_module("mlprom.serving.metrics").PredictionMetrics  # noqa: N806

    model = f"grafana{int(time.time() * 1000) % 10**9}"
    registry = CollectorRegistry()
    metrics = PredictionMetrics(model, 1.0, registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prometheus_stack.add_scrape_target(f"127.0.0.1:{port}")
        _wait_for(prometheus_stack, f'mlprom_predictions_total{{model="{model}"}}')  # the zero state
        for seconds in [0.02] * 90 + [3.0] * 10:
            metrics.observe(seconds)
        monitor = [
            p for p in query_panels() if "mlprom_last_" not in str(p) and "mlprom_findings" not in str(p)
        ]
        assert {p["title"] for p in monitor} == {
            "Predictions per second",
            "Slow share",
            "Prediction time quantiles",
            "Mean prediction time",
        }
        for panel in monitor:
            for target in panel["targets"]:
                expr = interpolate(target["expr"], model=model)
                result = _wait_for(prometheus_stack, f"({expr}) > 0")
                assert {r["metric"].get("model") for r in result} == {model}, panel["title"]
                value = float(result[0]["value"][1])
                if panel["title"] == "Slow share":
                    assert 0 < value <= 1
                if target["legendFormat"].startswith("p95"):
                    assert 2.5 < value <= 5.0  # the bucket holding the 3 s calls
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_model_variable_lists_every_model_of_the_fleet_and_no_other_model_label(
    prometheus_stack: PrometheusStack,
) -> None:
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    PredictionMetrics = importlib.import_module("mlprom.serving.metrics").PredictionMetrics  # noqa: N806

    stamp = int(time.time() * 1000) % 10**9
    piped, served, other = f"fleetpipe{stamp}", f"fleetserve{stamp}", f"gpu{stamp}"
    # A model with CronJobs only (a heartbeat, no serving process scraped) ...
    config = load_config_text(
        f"pushgateway: {{url: '{prometheus_stack.pushgateway_url}'}}\nmodel: {{name: {piped}}}\n"
    )
    push_heartbeat(config, "capture-infra", 1.0, {})
    # ... one served with Monitor and no pipeline yet, and another exporter's `model` label (a GPU's).
    registry = CollectorRegistry()
    PredictionMetrics(served, 1.0, registry=registry)
    Gauge("gpu_temperature_celsius", "GPU temperature", ["model"], registry=registry).labels(other).set(60)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prometheus_stack.add_scrape_target(f"127.0.0.1:{port}")
        _wait_for(prometheus_stack, f'mlprom_predictions_total{{model="{served}"}}')
        _wait_for(prometheus_stack, f'gpu_temperature_celsius{{model="{other}"}}')
        _wait_for(prometheus_stack, f'mlprom_last_success_timestamp_seconds{{model="{piped}"}}')
        (variable,) = [v for v in dashboard()["templating"]["list"] if v["name"] == "model"]
        assert variable["query"]["query"] == variable["definition"]
        found = re.fullmatch(r"label_values\((.+), model\)", variable["definition"])
        assert found, variable["definition"]
        # What Grafana asks for a label_values(selector, label) variable: the label's values API.
        answer = requests.get(
            prometheus_stack.prometheus_url + "/api/v1/label/model/values",
            params={"match[]": found.group(1)},
            timeout=10,
        ).json()
        assert answer["status"] == "success", answer
        assert {piped, served} <= set(answer["data"]) and other not in answer["data"]
    finally:
        server.shutdown()
        thread.join(timeout=10)
