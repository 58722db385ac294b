"""capture-infra against a real Prometheus scraping a real node-exporter, into moto S3 and a local dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.config import DEFAULT_QUERIES
from tests.fixtures.fakes import ScriptedServer
from tests.fixtures.servers import PrometheusStack, free_port, list_s3_keys, s3_client

runner = CliRunner()

CPU = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))'


def _invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in (result.output + (result.stderr or "")), result.output
    return result


def _local_snapshots(root: Path) -> list[Path]:
    return sorted((root / "infra").rglob("*.json")) if (root / "infra").exists() else []


def _assert_cpu_usage(snapshot: dict) -> None:
    cpu = snapshot["queries"]["cpu_usage"]
    assert cpu["error"] is None
    assert cpu["result_type"] == "vector"
    assert cpu["series"], "cpu_usage returned no series"
    for series in cpu["series"]:
        assert "instance" in series["labels"]
        assert 0.0 <= series["value"] <= 1.0


def test_capture_infra_stores_snapshot_in_local_dir(
    prometheus_stack: PrometheusStack, write_config, tmp_path
):
    cfg = write_config({"prometheus": {"url": prometheus_stack.prometheus_url}})
    result = _invoke("-c", str(cfg), "-o", "json", "capture-infra")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    files = _local_snapshots(tmp_path / "data")
    assert len(files) == 1
    assert files[0].relative_to(tmp_path / "data").as_posix() == out["key"]
    snapshot = json.loads(files[0].read_text())
    _assert_cpu_usage(snapshot)
    assert snapshot["source"] == prometheus_stack.prometheus_url
    # The default queries all ran; http_latency has no such metric here, which is an empty result, not an error.
    assert set(snapshot["queries"]) >= {"cpu_usage", "memory_usage", "system_load", "http_latency"}
    assert snapshot["queries"]["http_latency"]["series"] == []
    assert snapshot["queries"]["http_latency"]["error"] is None


def test_capture_infra_stores_snapshot_in_moto_s3(
    prometheus_stack: PrometheusStack, moto_s3, s3_bucket, write_config
):
    cfg = write_config(
        {
            "storage": {"url": f"s3://{s3_bucket}/team-a", "endpoint_url": moto_s3},
            "prometheus": {"url": prometheus_stack.prometheus_url},
        }
    )
    from datetime import UTC, datetime

    at = datetime.now(UTC).replace(microsecond=0)  # Prometheus has had data for 2 scrapes by now
    result = _invoke("-c", str(cfg), "capture-infra", "--at", at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert result.exit_code == 0, result.output
    keys = list_s3_keys(moto_s3, s3_bucket)
    assert len(keys) == 1
    assert keys[0].startswith(f"team-a/infra/dt={at:%Y-%m-%d}/{at:%H%M%S}-")
    body = s3_client(moto_s3).get_object(Bucket=s3_bucket, Key=keys[0])["Body"].read()
    snapshot = json.loads(body)
    assert snapshot["ts"] == at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert snapshot["queries"]["system_load"]["series"]  # a gauge: present from the first scrape


def test_capture_infra_live_snapshot_in_s3_has_cpu_usage(prometheus_stack, moto_s3, s3_bucket, write_config):
    cfg = write_config(
        {
            "storage": {"url": f"s3://{s3_bucket}", "endpoint_url": moto_s3},
            "prometheus": {"url": prometheus_stack.prometheus_url},
        }
    )
    assert _invoke("-c", str(cfg), "capture-infra").exit_code == 0
    (key,) = list_s3_keys(moto_s3, s3_bucket)
    _assert_cpu_usage(json.loads(s3_client(moto_s3).get_object(Bucket=s3_bucket, Key=key)["Body"].read()))


def test_prometheus_down_exits_3_and_writes_nothing(write_config, tmp_path):
    cfg = write_config({"prometheus": {"url": f"http://127.0.0.1:{free_port()}"}})
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 3
    assert "Prometheus at http://127.0.0.1:" in result.stderr
    assert "connection refused" in result.stderr
    assert _local_snapshots(tmp_path / "data") == []


def test_bad_promql_among_good_keeps_the_good_ones(prometheus_stack, write_config, tmp_path):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "queries": {"cpu_usage": CPU, "broken": "rate(node_cpu_seconds_total[1m]", "load": "node_load1"},
        }
    )
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 3, result.output  # a partial failure: stored, and said
    (path,) = _local_snapshots(tmp_path / "data")
    snapshot = json.loads(path.read_text())
    _assert_cpu_usage(snapshot)
    assert snapshot["queries"]["load"]["series"]
    broken = snapshot["queries"]["broken"]
    assert broken["series"] == [] and broken["result_type"] is None
    assert broken["error"].startswith("bad_data:")
    assert "query broken failed" in result.stderr


def test_all_queries_bad_exits_3_and_writes_nothing(prometheus_stack, write_config, tmp_path):
    cfg = write_config(
        {"prometheus": {"url": prometheus_stack.prometheus_url}, "queries": {"a": "sum(", "b": ")"}}
    )
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 3
    assert "every query failed" in result.stderr
    assert _local_snapshots(tmp_path / "data") == []


def test_nan_and_inf_are_kept_as_null_with_raw(prometheus_stack, write_config, tmp_path):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "queries": {"nan": "vector(0) / 0", "inf": "vector(1) / 0", "neg": "scalar(vector(-1)) / 0"},
        }
    )
    assert _invoke("-c", str(cfg), "capture-infra").exit_code == 0
    (path,) = _local_snapshots(tmp_path / "data")
    text = path.read_text()
    assert "NaN" not in text.replace('"NaN"', "")  # never a bare NaN token: the file stays valid JSON
    q = json.loads(text)["queries"]
    assert q["nan"]["series"][0] == {"labels": {}, "value": None, "raw": "NaN"}
    assert q["inf"]["series"][0] == {"labels": {}, "value": None, "raw": "+Inf"}
    assert q["neg"]["result_type"] == "scalar"
    assert q["neg"]["series"][0] == {"labels": {}, "value": None, "raw": "-Inf"}


def test_503_then_success_is_retried(scripted_server: ScriptedServer, write_config, tmp_path):
    ok = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"instance": "a:9100"}, "value": [1764000000, "0.25"]}],
        },
    }
    scripted_server.script = [(503, b"overloaded"), (503, b"overloaded"), (200, ok)]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"cpu_usage": CPU}})
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 0, result.output
    assert [r[1] for r in scripted_server.requests] == ["/api/v1/query"] * 3
    form = scripted_server.requests[-1][2].decode()
    assert "time=" in form and "timeout=" in form and "query=" in form
    (path,) = _local_snapshots(tmp_path / "data")
    assert json.loads(path.read_text())["queries"]["cpu_usage"]["series"][0]["value"] == 0.25


def test_persistent_5xx_exits_3(scripted_server: ScriptedServer, write_config, tmp_path):
    scripted_server.script = [(502, b"bad gateway")]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"cpu_usage": CPU}})
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 3
    assert "HTTP 502" in result.stderr
    assert len(scripted_server.requests) == 4  # the first try and three retries
    assert _local_snapshots(tmp_path / "data") == []


def test_malformed_json_answer_exits_3(scripted_server: ScriptedServer, write_config, tmp_path):
    scripted_server.script = [(200, b"{not json")]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"cpu_usage": CPU}})
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 3
    assert "not valid JSON" in result.stderr
    assert _local_snapshots(tmp_path / "data") == []


def test_warnings_are_surfaced_and_kept(scripted_server: ScriptedServer, write_config, tmp_path):
    body = {
        "status": "success",
        "warnings": ["PromQL info: metric might not be a counter"],
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]},
    }
    scripted_server.script = [(200, body)]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"q": "rate(x[1m])"}})
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 0
    assert "might not be a counter" in result.stderr
    (path,) = _local_snapshots(tmp_path / "data")
    assert json.loads(path.read_text())["queries"]["q"]["warnings"] == [
        "PromQL info: metric might not be a counter"
    ]


def test_credentials_never_in_output_or_stored_source(prometheus_stack, write_config, tmp_path):
    host = prometheus_stack.prometheus_url.removeprefix("http://")
    password_file = tmp_path / "pw"
    password_file.write_text("file-secret-123\n")
    token_file = tmp_path / "token"
    token_file.write_text("token-secret-456")
    cfg = write_config(
        {
            "prometheus": {
                "url": f"http://alice:url-secret-789@{host}",
                "bearer_token_file": str(token_file),
                "headers": {"X-Scope-OrgID": "team-a"},
            }
        }
    )
    result = _invoke("-c", str(cfg), "-v", "-o", "json", "capture-infra")
    assert result.exit_code == 0, result.output
    (path,) = _local_snapshots(tmp_path / "data")
    stored = path.read_text()
    for secret in ("url-secret-789", "token-secret-456", "alice"):
        assert secret not in stored
        assert secret not in result.output
        assert secret not in (result.stderr or "")
    assert json.loads(stored)["source"] == f"http://{host}"


def test_credentials_not_in_error_messages(write_config):
    cfg = write_config({"prometheus": {"url": f"http://bob:hunter2@127.0.0.1:{free_port()}"}})
    result = _invoke("-c", str(cfg), "capture-infra")
    assert result.exit_code == 3
    assert "hunter2" not in result.output + result.stderr and "bob" not in result.stderr


def test_date_must_match_at(write_config):
    cfg = write_config({})
    result = _invoke("-c", str(cfg), "capture-infra", "--at", "2026-11-24T23:59:00Z", "--date", "2026-11-25")
    assert result.exit_code == 2
    assert "does not match" in result.stderr


@pytest.mark.parametrize("at", ["yesterday-ish", "2026-11-24T10:00:00", "-5"])
def test_bad_at_is_a_usage_error(write_config, at):
    result = _invoke("-c", str(write_config({})), "capture-infra", "--at", at)
    assert result.exit_code == 2
    assert "--at" in result.stderr


def test_at_a_time_prometheus_has_no_data_for_exits_4_and_stores_nothing(
    prometheus_stack, write_config, tmp_path
):
    cfg = write_config({"prometheus": {"url": prometheus_stack.prometheus_url}})
    result = _invoke("-c", str(cfg), "capture-infra", "--at", "2020-01-01T00:00:00Z")
    assert result.exit_code == 4, result.output
    assert f"no series for any of the {len(DEFAULT_QUERIES)} queries at 2020-01-01T00:00:00" in result.stderr
    assert "nothing stored" in result.stderr
    assert _local_snapshots(tmp_path / "data") == []


def test_some_queries_without_series_are_still_stored(prometheus_stack, write_config, tmp_path):
    cfg = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "queries": {"load": "node_load1", "none": "absent_metric_xyz"},
        }
    )
    result = _invoke("-c", str(cfg), "-o", "json", "capture-infra")
    assert result.exit_code == 0, result.output
    queries = json.loads(result.stdout)["queries"]
    assert queries["none"]["series"] == 0 and queries["load"]["series"] == 1
    assert len(_local_snapshots(tmp_path / "data")) == 1


# ---------------------------------------------------------------- archived ranges (--from/--to)

RANGE_FROM, RANGE_TO = "2026-11-30T00:00:00Z", "2026-11-30T01:00:00Z"
RANGE_START = 1795996800.0  # RANGE_FROM in unix seconds


def _matrix(values: list) -> dict:
    return {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {"instance": "a:9100"}, "values": values}]},
    }


def _archive(cfg: Path, *extra: str):
    return _invoke(
        "-c",
        str(cfg),
        "-o",
        "json",
        *extra,
        "capture-infra",
        "--from",
        RANGE_FROM,
        "--to",
        RANGE_TO,
        "--step",
        "60s",
    )


def _ranges(root: Path) -> list[Path]:
    return sorted((root / "infra").rglob("range-*.json")) if (root / "infra").exists() else []


def test_archived_range_keeps_only_points_inside_the_range_and_nan_as_null_with_raw(
    scripted_server: ScriptedServer, write_config, tmp_path
):
    s = RANGE_START
    odd = [[s, "0.5"], [1e300, "3"], [-1e300, "4"], [s + 7200, "5"], [s + 60, "NaN"], [s + 120, "+Inf"]]
    scripted_server.script = [(200, _matrix(odd))]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"cpu_usage": CPU}})
    result = _archive(cfg)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["points"] == 3
    assert "cpu_usage: 3 point(s) Prometheus answered outside the range asked were left out" in result.stderr
    (path,) = _ranges(tmp_path / "data")
    (series,) = json.loads(path.read_text())["series"]
    assert series == {
        "labels": {"instance": "a:9100"},
        "t": [s, s + 60, s + 120],
        "v": [0.5, None, None],
        "raw": [None, "NaN", "+Inf"],
    }


@pytest.mark.parametrize(
    ("sample", "needle"),
    [
        ([None, "1"], "malformed answer"),
        (["NaN", "1"], "is not a finite number"),
        ([RANGE_START, "abc"], "'abc' is not a number"),
    ],
)
def test_archived_range_answer_with_a_malformed_point_exits_3_and_stores_nothing(
    scripted_server: ScriptedServer, write_config, tmp_path, sample, needle
):
    scripted_server.script = [(200, _matrix([[RANGE_START + 60, "1"], sample]))]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"cpu_usage": CPU}})
    result = _archive(cfg)
    assert result.exit_code == 3, result.output
    assert needle in result.stderr and "cpu_usage" in result.stderr
    assert _ranges(tmp_path / "data") == []


def test_an_invalid_stored_range_is_fetched_again_and_repaired_then_existing(
    scripted_server: ScriptedServer, write_config, tmp_path
):
    s = RANGE_START
    scripted_server.script = [(200, _matrix([[s, "0.5"], [s + 60, "0.75"]]))]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"cpu_usage": CPU}})
    assert _archive(cfg).exit_code == 0
    (path,) = _ranges(tmp_path / "data")
    good = path.read_text()
    # What an archive written without checking its points held: times far outside the range.
    broken = json.loads(good)
    broken["series"][0]["t"] = [s, 1e300]
    path.write_text(json.dumps(broken))

    result = _archive(cfg)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    key = path.relative_to(tmp_path / "data").as_posix()
    assert (out["repaired"], out["existing"], out["stored"]) == ([key], [], [])
    assert "is invalid (series 0: time 1e+300 is not a finite time inside the range)" in result.stderr
    assert json.loads(path.read_text()) == json.loads(good)

    requests = len(scripted_server.requests)
    again = json.loads(_archive(cfg).stdout)
    assert (again["existing"], again["repaired"], again["stored"]) == ([key], [], [])
    assert len(scripted_server.requests) == requests  # nothing fetched for an object already archived


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 1, "kind": "range", "series": []}', "holds another query"),
    ],
)
def test_an_unreadable_stored_range_is_kept_when_prometheus_has_nothing_to_replace_it(
    scripted_server: ScriptedServer, write_config, tmp_path, content, why
):
    s = RANGE_START
    scripted_server.script = [(200, _matrix([[s, "0.5"]]))]
    cfg = write_config({"prometheus": {"url": scripted_server.url}, "queries": {"cpu_usage": CPU}})
    assert _archive(cfg).exit_code == 0
    (path,) = _ranges(tmp_path / "data")
    path.write_text(content)
    scripted_server.script = [(200, _matrix([]))]
    result = _archive(cfg)
    assert result.exit_code == 4, result.output  # nothing stored, nothing archived: no data
    assert f"is invalid ({why}" in result.stderr and "returned no series" in result.stderr
    assert path.read_text() == content  # nothing stored destroyed
