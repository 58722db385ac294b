"""capture-model against real MLflow models, a sqlite MLflow store and moto S3: events, the run, errors."""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.config import Config, load_config
from mlprom.errors import InputError, UpstreamError
from mlprom.events.log import iter_events
from mlprom.stages import capture_model
from mlprom.storage import open_storage
from tests.fixtures.recent import recent_events
from tests.fixtures.servers import free_port, list_s3_keys

pytestmark = pytest.mark.integration

MODEL_REF = "tests.fixtures.mlflow_server:sum_rule_predict"
DAY = datetime.now(UTC).date()  # pinned with day=DAY where a test names the partition


def write_csv(
    path: Path, rows: int, slow_rows: set[int] = frozenset(), seed: int = 7
) -> list[tuple[float, float, int]]:
    """x1, x2, delay_ms, label; labels are the sum rule with every fifth row flipped. Returns the rows."""
    rng = random.Random(seed)
    data = []
    lines = ["x1,x2,delay_ms,label"]
    for i in range(rows):
        x1, x2 = round(rng.random(), 3), round(rng.random(), 3)
        truth = int(x1 + x2 > 1)
        label = 1 - truth if i % 5 == 0 else truth
        data.append((x1, x2, label))
        lines.append(f"{x1},{x2},{50 if i in slow_rows else 0},{label}")
    path.write_text("\n".join(lines) + "\n")
    return data


def make_config(write_config: Callable[..., Path], mlflow_uri: str, **model: Any) -> tuple[Path, Config]:
    doc = {
        "mlflow": {"tracking_uri": mlflow_uri, "experiment": f"capture-{uuid.uuid4().hex[:8]}"},
        "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 0.0, **model},
    }
    path = write_config(doc)
    return path, load_config(str(path))


def runs_of(config: Config) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(config.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    return list(client.search_runs([experiment.experiment_id])) if experiment else []


def test_pyfunc_model_over_csv_writes_events_to_s3_and_one_mlflow_run(
    tmp_path: Path, moto_s3: str, s3_bucket: str, mlflow_sqlite_uri: str, pyfunc_model_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    data = write_csv(tmp_path / "in.csv", 40, slow_rows={13})
    config = Config.model_validate(
        {
            "storage": {"url": f"s3://{s3_bucket}/team", "endpoint_url": moto_s3},
            "mlflow": {"tracking_uri": mlflow_sqlite_uri, "experiment": "capture-s3"},
            "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 1.0},
        }
    )
    result = capture_model.run(
        config,
        input_path=str(tmp_path / "in.csv"),
        model_uri=pyfunc_model_uri,
        label_column="label",
        batch_size=10,
        day=DAY,
    )

    expected_accuracy = sum(int(x1 + x2 > 1) == label for x1, x2, label in data) / len(data)
    assert result.rows == 40 and result.batches == 4
    assert result.quality["accuracy"] == pytest.approx(expected_accuracy)
    assert result.slow_batches == 1 and result.events == 4  # sample_rate 1: every fast batch too
    keys = list_s3_keys(moto_s3, s3_bucket, f"team/model/dt={DAY.isoformat()}/model=churn/")
    # One events object per flush, not one per event, and beside it that flush's latency sketch.
    assert [k.rsplit(".", 1)[-1] for k in keys if k.endswith(".jsonl")] == ["jsonl"]
    assert len([k for k in keys if k.endswith(".latency.json")]) == 1 and len(keys) == 2
    events = list(iter_events(open_storage(config), DAY, "churn"))
    assert sorted(e.batch for e in events) == [0, 1, 2, 3]
    assert {e.mlflow_run_id for e in events} == {result.mlflow_run_id}
    assert [e.batch for e in events if e.slow] == [1]
    assert all(e.input_digest and e.input_digest.startswith("sha256:") for e in events)
    assert all(e.outputs is not None and len(e.outputs) == 10 for e in events)
    per_batch = sum(e.metrics["accuracy"] * e.rows for e in events) / 40
    assert per_batch == pytest.approx(expected_accuracy)

    runs = runs_of(config)
    assert len(runs) == 1 and runs[0].info.run_id == result.mlflow_run_id
    metrics = runs[0].data.metrics
    assert metrics["accuracy"] == pytest.approx(expected_accuracy)
    assert metrics["rows"] == 40 and metrics["slow_batches"] == 1 and metrics["events"] == 4
    assert {
        "prediction_time_p50_seconds",
        "prediction_time_p95_seconds",
        "prediction_time_p99_seconds",
    } <= set(metrics)
    assert runs[0].data.params["batch_size"] == "10"
    assert runs[0].info.status == "FINISHED"
    history = MlflowClient(mlflow_sqlite_uri).get_metric_history(
        result.mlflow_run_id, "batch_prediction_time_seconds"
    )
    assert sorted(m.step for m in history) == [0, 1, 2, 3]


def test_slow_batches_and_only_those_are_recorded_as_slow(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    write_csv(tmp_path / "in.csv", 60, slow_rows={5, 41, 44})
    _, config = make_config(write_config, mlflow_sqlite_uri)
    result = capture_model.run(
        config, input_path=str(tmp_path / "in.csv"), model_ref=MODEL_REF, label_column="label", batch_size=10
    )
    events = recent_events(open_storage(config), "churn")
    assert sorted(e.batch for e in events if e.slow) == [0, 4]
    assert all(e.slow for e in events)  # sample_rate 0: nothing else
    assert result.slow_batches == 2


def test_jsonl_gz_input_and_full_inputs_recording(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    import gzip

    rows = [
        {"x1": 0.9, "x2": 0.9, "delay_ms": 0, "label": 1},
        {"x1": 0.1, "x2": 0.2, "delay_ms": 0, "label": 1},
    ]
    (tmp_path / "in.jsonl.gz").write_bytes(gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in rows)))
    _, config = make_config(write_config, mlflow_sqlite_uri, latency_threshold=0, record_inputs="full")
    result = capture_model.run(
        config,
        input_path=str(tmp_path / "in.jsonl.gz"),
        model_ref=MODEL_REF,
        label_column="label",
        batch_size=5,
    )
    assert result.quality["accuracy"] == 0.5
    (event,) = recent_events(open_storage(config), "churn")
    assert event.inputs == [{k: v for k, v in r.items() if k != "label"} for r in rows]


def test_unparseable_row_names_file_and_line_and_keeps_earlier_events(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    path = tmp_path / "broken.csv"
    write_csv(path, 7)
    with path.open("a") as handle:
        handle.write("0.5,0.5,0,1,surplus\n0.1,0.1,0,0\n")
    _, config = make_config(write_config, mlflow_sqlite_uri, latency_threshold=0)
    with pytest.raises(InputError, match=r"broken\.csv: line 9 \(row 8\): expected 4 fields"):
        capture_model.run(
            config, input_path=str(path), model_ref=MODEL_REF, label_column="label", batch_size=2
        )
    events = recent_events(open_storage(config), "churn")
    assert sorted(e.batch for e in events) == [0, 1, 2]
    (run,) = runs_of(config)
    assert run.info.status == "FAILED"


def test_an_over_long_line_names_file_and_line_and_ends_the_run_failed(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprom.storage import inputs

    monkeypatch.setattr(inputs, "MAX_INPUT_LINE", 200)
    path = tmp_path / "wide.csv"
    write_csv(path, 7)
    with path.open("a") as handle:
        handle.write("0.5," * 100 + "1\n")
    _, config = make_config(write_config, mlflow_sqlite_uri, latency_threshold=0)
    with pytest.raises(InputError, match=r"wide\.csv: line 9: longer than 200 characters"):
        capture_model.run(
            config, input_path=str(path), model_ref=MODEL_REF, label_column="label", batch_size=2
        )
    events = recent_events(open_storage(config), "churn")
    assert sorted(e.batch for e in events) == [0, 1, 2]
    (run,) = runs_of(config)
    assert run.info.status == "FAILED"


def cli(config_path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["-c", str(config_path), "-o", "json", "capture-model", *args])


def test_cli_capture_prints_json_result(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    write_csv(tmp_path / "in.csv", 12)
    path, _ = make_config(write_config, mlflow_sqlite_uri)
    result = cli(path, "--input", str(tmp_path / "in.csv"), "--model", MODEL_REF, "--label-column", "label")
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    assert document["rows"] == 12 and document["task"] == "classification"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{tmp}/missing.csv", "--model", MODEL_REF], "missing.csv: input file not found"),
        (
            ["--input", "{tmp}/in.csv", "--model", MODEL_REF, "--label-column", "truth"],
            "no label column 'truth'",
        ),
        (["--input", "{tmp}/in.csv", "--model-uri", "{tmp}/no-such-model"], "no-such-model"),
        (
            ["--input", "{tmp}/in.csv", "--model", "tests.fixtures.mlflow_server:nothing"],
            "has no attribute nothing",
        ),
        (["--input", "{tmp}/in.csv"], "exactly one of --model-uri and --model"),
    ],
    ids=["missing-file", "missing-label-column", "missing-model-uri", "missing-model-attr", "no-model"],
)
def test_cli_bad_input_exits_2_with_a_message_and_writes_nothing(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str, args: list[str], message: str
) -> None:
    write_csv(tmp_path / "in.csv", 5)
    path, config = make_config(write_config, mlflow_sqlite_uri)
    result = cli(path, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()
    assert runs_of(config) == []


def test_cli_mlflow_down_exits_3_before_any_work(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    write_csv(tmp_path / "in.csv", 5)
    port = free_port()  # nothing listens there
    path, _ = make_config(write_config, f"http://user:secret@127.0.0.1:{port}")
    result = cli(path, "--input", str(tmp_path / "in.csv"), "--model", MODEL_REF)
    assert result.exit_code == 3, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"MLflow tracking server at http://127.0.0.1:{port}: connection refused" in result.stderr
    assert "secret" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "data").exists()


def test_run_mlflow_down_raises_upstream_error(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    write_csv(tmp_path / "in.csv", 5)
    _, config = make_config(write_config, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UpstreamError, match="connection refused"):
        capture_model.run(config, input_path=str(tmp_path / "in.csv"), model_ref=MODEL_REF)


def test_two_concurrent_runs_for_one_date_lose_no_events(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    write_csv(tmp_path / "a.csv", 50, seed=1)
    write_csv(tmp_path / "b.csv", 70, seed=2)
    _, config = make_config(write_config, mlflow_sqlite_uri, latency_threshold=0)
    results: dict[str, Any] = {}

    def capture(name: str) -> None:
        try:
            results[name] = capture_model.run(
                config,
                input_path=str(tmp_path / name),
                model_ref=MODEL_REF,
                label_column="label",
                batch_size=5,
            )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=capture, args=(n,)) for n in ("a.csv", "b.csv")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results.values()), results
    events = recent_events(open_storage(config), "churn")
    assert len(events) == 10 + 14
    assert {e.mlflow_run_id for e in events} == {r.mlflow_run_id for r in results.values()}
    assert len(runs_of(config)) == 2


def test_with_infra_takes_at_most_one_snapshot_per_skew_window(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlprom.infra.snapshot

    calls: list[Any] = []

    def fake_capture_snapshot(config: Config, storage: Any, at: Any) -> tuple[Any, str]:
        calls.append(at)
        return object(), f"infra/dt={DAY.isoformat()}/000000-{len(calls):016x}.json"

    monkeypatch.setattr(mlprom.infra.snapshot, "capture_snapshot", fake_capture_snapshot)
    write_csv(tmp_path / "in.csv", 30)
    _, config = make_config(write_config, mlflow_sqlite_uri, latency_threshold=0)
    result = capture_model.run(
        config, input_path=str(tmp_path / "in.csv"), model_ref=MODEL_REF, batch_size=10, with_infra=True
    )
    assert result.slow_batches == 3
    assert len(calls) == 1 and len(result.snapshots) == 1  # three slow batches within one 5m window


def test_input_streamed_from_s3_over_http(
    tmp_path: Path, moto_s3: str, s3_bucket: str, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    from tests.fixtures.servers import s3_client

    data = write_csv(tmp_path / "in.csv", 30)
    s3_client(moto_s3).put_object(
        Bucket=s3_bucket, Key="inputs/today.csv", Body=(tmp_path / "in.csv").read_bytes()
    )
    path = write_config(
        {
            "storage": {"url": f"s3://{s3_bucket}/store", "endpoint_url": moto_s3},
            "mlflow": {"tracking_uri": mlflow_sqlite_uri, "experiment": "capture-s3-input"},
            "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 1.0},
        }
    )
    config = load_config(str(path))
    result = capture_model.run(
        config,
        input_path=f"s3://{s3_bucket}/inputs/today.csv",
        model_ref=MODEL_REF,
        label_column="label",
        batch_size=10,
    )
    expected = sum(int(x1 + x2 > 1) == label for x1, x2, label in data) / len(data)
    assert result.rows == 30 and result.quality["accuracy"] == pytest.approx(expected)
    assert len(recent_events(open_storage(config), "churn")) == 3


def test_input_missing_s3_object_is_a_usage_error(
    moto_s3: str, s3_bucket: str, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    path = write_config(
        {
            "storage": {"url": f"s3://{s3_bucket}/store", "endpoint_url": moto_s3},
            "mlflow": {"tracking_uri": mlflow_sqlite_uri},
        }
    )
    result = CliRunner().invoke(
        app, ["-c", str(path), "capture-model", "--input", f"s3://{s3_bucket}/nope.csv", "--model", MODEL_REF]
    )
    assert result.exit_code == 2
    assert f"s3://{s3_bucket}/nope.csv: no such object" in result.stderr
    assert list_s3_keys(moto_s3, s3_bucket) == []


def test_with_infra_snapshots_the_real_prometheus_when_a_batch_is_slow(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str, prometheus_stack: Any
) -> None:
    write_csv(tmp_path / "in.csv", 30, slow_rows={12})
    path = write_config(
        {
            "prometheus": {"url": prometheus_stack.prometheus_url},
            "mlflow": {"tracking_uri": mlflow_sqlite_uri, "experiment": "capture-infra-real"},
            "model": {"name": "churn", "latency_threshold": "200ms", "sample_rate": 0.0},
        }
    )
    config = load_config(str(path))
    result = capture_model.run(
        config, input_path=str(tmp_path / "in.csv"), model_ref=MODEL_REF, batch_size=10, with_infra=True
    )
    assert result.slow_batches == 1
    snapshots = sorted((tmp_path / "data" / "infra").rglob("*.json"))
    assert len(snapshots) == 1
    snapshot = orjson.loads(snapshots[0].read_bytes())
    cpu = snapshot["queries"]["cpu_usage"]
    assert cpu["error"] is None and cpu["series"] and "instance" in cpu["series"][0]["labels"]
    (slow_event,) = [e for e in recent_events(open_storage(config), "churn") if e.slow]
    # The snapshot was taken right after the slow batch: well within correlate.max_skew of its event.
    from mlprom.records import parse_ts

    assert abs((parse_ts(snapshot["ts"]) - slow_event.ts).total_seconds()) < config.correlate.max_skew


# ---------------------------------------------------------------- MLflow as its users expect


@pytest.fixture(params=["sqlite", "server"])
def tracking_uri(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The real sqlite store, then the real `mlflow server`."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return str(request.getfixturevalue("mlflow_sqlite_uri" if request.param == "sqlite" else "mlflow_server"))


def raising(message: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        raise MlflowException(message)

    return fail


def broken_predict(frame: Any) -> Any:
    raise RuntimeError("weights missing")


def test_four_runs_in_a_row_get_four_distinct_names(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str
) -> None:
    write_csv(tmp_path / "in.csv", 3)
    path, config = make_config(write_config, mlflow_sqlite_uri)
    started = datetime.now(UTC)
    for _ in range(4):
        result = cli(path, "--input", str(tmp_path / "in.csv"), "--model", MODEL_REF)
        assert result.exit_code == 0, result.output
    names = [run.info.run_name for run in runs_of(config)]
    assert len(set(names)) == 4, names
    for name in names:
        match = re.fullmatch(rf"capture-churn-{DAY.isoformat()}-(\d{{6}})-[0-9a-f]{{4}}", name)
        assert match is not None, name
        assert match.group(1) >= f"{started:%H%M%S}"


@pytest.mark.parametrize(
    ("case", "exit_code", "message", "statuses"),
    [
        ("system-metrics", 3, "starting system metrics failed: monitor thread died", ["FAILED"]),
        ("dataset", 3, "logging the input dataset failed: store refused", ["FAILED"]),
        ("summary-artifact", 3, "logging capture-summary.json failed: artifact store full", ["FAILED"]),
        ("model-fails", 2, "failed on batch 0: RuntimeError: weights missing", ["FAILED"]),
        ("model-missing", 2, "--model-uri models:/no-such-model/1: cannot load the model", []),
    ],
)
def test_a_failure_after_the_run_is_created_ends_it_failed_never_running(
    tmp_path: Path,
    write_config: Callable[..., Path],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    exit_code: int,
    message: str,
    statuses: list[str],
) -> None:
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    from mlflow.tracking import MlflowClient

    write_csv(tmp_path / "in.csv", 12)
    mlflow_doc = {
        "tracking_uri": tracking_uri,
        "experiment": f"capture-{uuid.uuid4().hex[:8]}",
        "system_metrics": case == "system-metrics",
    }
    path = write_config({"mlflow": mlflow_doc, "model": {"name": "churn", "sample_rate": 0.0}})
    config = load_config(str(path))
    model = ["--model", MODEL_REF]
    if case == "system-metrics":
        monkeypatch.setattr(SystemMetricsMonitor, "start", raising("monitor thread died"))
    elif case == "dataset":
        monkeypatch.setattr(MlflowClient, "log_inputs", raising("store refused"))
    elif case == "summary-artifact":
        monkeypatch.setattr(MlflowClient, "log_dict", raising("artifact store full"))
    elif case == "model-fails":
        model = ["--model", "tests.integration.test_capture_model:broken_predict"]
    else:
        model = ["--model-uri", "models:/no-such-model/1"]

    result = cli(path, "--input", str(tmp_path / "in.csv"), *model)

    assert result.exit_code == exit_code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert [run.info.status for run in runs_of(config)] == statuses


def test_without_psutil_system_metrics_warn_and_the_run_finishes(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` raises ImportError
    write_csv(tmp_path / "in.csv", 5)
    experiment = f"capture-{uuid.uuid4().hex[:8]}"
    path = write_config(
        {"mlflow": {"tracking_uri": mlflow_sqlite_uri, "experiment": experiment, "system_metrics": True}}
    )
    result = cli(path, "--input", str(tmp_path / "in.csv"), "--model", MODEL_REF)
    assert result.exit_code == 0, result.output
    assert "mlflow.system_metrics is on but psutil is not installed" in result.stderr
    (run,) = runs_of(load_config(str(path)))
    assert run.info.status == "FINISHED"


@pytest.mark.parametrize("reference", ["alias", "version", "logged-model"])
def test_summary_metrics_reach_the_logged_model_and_the_summary_is_an_artifact(
    tmp_path: Path, write_config: Callable[..., Path], tracking_uri: str, reference: str
) -> None:
    from mlflow.tracking import MlflowClient

    from tests.fixtures.mlflow_server import register_model

    name = f"churn-{uuid.uuid4().hex[:8]}"
    register_model(tracking_uri, name)
    client = MlflowClient(tracking_uri)
    version = client.get_model_version(name, "2")
    # The LoggedModel behind version 2 (a sqlite store leaves model_id empty; its source names it).
    model_id = version.model_id or version.source.removeprefix("models:/")
    model_uri = {
        "alias": f"models:/{name}@champion",
        "version": f"models:/{name}/2",
        "logged-model": f"models:/{model_id}",
    }[reference]
    data = write_csv(tmp_path / "scoring.csv", 30)
    path, _ = make_config(write_config, tracking_uri)

    args = ["--input", str(tmp_path / "scoring.csv"), "--model-uri", model_uri, "--label-column", "label"]
    result = cli(path, *args, "--batch-size", "10")

    assert result.exit_code == 0, result.output
    output = orjson.loads(result.stdout)
    run = client.get_run(output["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert [m.model_id for m in run.inputs.model_inputs] == [model_id]
    logged = {m.key: m for m in client.get_logged_model(model_id).metrics}
    expected_accuracy = sum(int(x1 + x2 > 1) == label for x1, x2, label in data) / len(data)
    assert logged["accuracy"].value == pytest.approx(expected_accuracy)
    assert logged["prediction_time_p95_seconds"].value == run.data.metrics["prediction_time_p95_seconds"]
    assert logged["rows"].value == 30
    assert {m.run_id for m in logged.values()} == {run.info.run_id}
    assert {(m.dataset_name, m.dataset_digest) for m in logged.values()} == {
        ("scoring.csv", run.inputs.dataset_inputs[0].dataset.digest)
    }
    # The per-batch metrics stay the run's: the model's page shows one value per summary metric.
    assert "batch_prediction_time_seconds" not in logged

    downloaded = client.download_artifacts(run.info.run_id, "capture-summary.json", str(tmp_path))
    assert orjson.loads(Path(downloaded).read_bytes()) == output


def test_context_tags_without_mlflows_run_context_registry(
    tmp_path: Path, write_config: Callable[..., Path], mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass
    import sys

    monkeypatch.setitem(sys.modules, "mlflow.tracking.context.registry", None)
    write_csv(tmp_path / "in.csv", 5)
    path, config = make_config(write_config, mlflow_sqlite_uri)
    result = cli(path, "--input", str(tmp_path / "in.csv"), "--model", MODEL_REF)
    assert result.exit_code == 0, result.output
    (run,) = runs_of(config)
    tags = run.data.tags
    assert tags["mlflow.user"] == getpass.getuser()
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.source.name"] == sys.argv[0]
    assert tags["mlprom.command"] == "capture-model"
