"""capture-model against each MLflow the `mlflow` extra accepts: fresh venvs, this tree's wheel, sqlite.

    python bench/mlflow_compat.py [VERSION ...] [--wheel PATH] [--wheelhouse DIR]
                                      (default versions: the extra's lowest and newest, 3.17.0 3.17.2)

Builds the wheel of this tree (unless --wheel names one), and for each MLflow version creates a fresh
venv (`python -m venv`), installs `<wheel>[mlflow,system-metrics]` with `mlflow==VERSION` (from a
wheelhouse kept between runs, filled from the package index the first time), and runs this file with
`--check` in that venv. The check works in a temporary directory with a sqlite tracking store. It
registers a model `churn` (two versions, alias `champion` on the second; each batch sleeps 0.5 s) and
runs `python -m mlprom capture-model --model-uri models:/churn@champion` with mlflow.system_metrics on
(psutil from the `system-metrics` extra, MLflow's monitor sampling every 0.2 s); it checks the run
(FINISHED, its name, context tags, params, dataset and model inputs, MLflow's `system/*` metrics), the
summary metrics on the run and on the LoggedModel, and the capture-summary.json artifact. Then
failures: a model version that does not exist (exit 2, no run) and a model that raises (exit 2, the run
FAILED). Prints one line per version with the install and check seconds; exits 1 when a version fails.
tests/integration/test_mlflow_versions.py runs it.

    python bench/mlflow_compat.py --tracking URL [VERSION ...] [--wheel PATH] [--wheelhouse DIR]

checks the `tracking` extra instead: `<wheel>[tracking]` with `mlflow-skinny==VERSION`, against the
running tracking server at URL (`mlflow server --host 127.0.0.1 --port 5000`, say). This interpreter's
MLflow registers the model there under a new name; in the venv, `--check-tracking` makes sure SQLAlchemy,
alembic and Flask are not installed, runs the same capture against the server and checks it the same
way (that extra has no psutil: system metrics are a warning there, the run goes on), then that a sqlite
tracking URI, and MLflow's default store (sqlite:///mlflow.db), are refused (exit 2, one line naming
`mlprom[mlflow]`). The report line adds the run's id.
tests/integration/test_tracking_install.py runs it against the suite's `mlflow server`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# pyproject's `mlflow` extra is mlflow>=LOWEST,<BELOW: LOWEST and NEWEST are what this check installs.
# 3.18.0 is on PyPI, but the mlflow-skinny and mlflow-tracing 3.18.0 it pins are not (yet) on the index,
# so it cannot be installed, nor checked: BELOW moves up once the check passes with it.
LOWEST = "3.17.0"
NEWEST = "3.17.2"
BELOW = "3.18"
# MLflow logs system metrics once per full sampling interval of a RUNNING run (10 s by default): the
# check samples every 0.2 s and its model sleeps per batch, so the capture's 3 batches outlast several.
SAMPLING_SECONDS = "0.2"
BATCH_SLEEP = 0.5


# ---------------------------------------------------------------- in the venv (--check)


def _mlprom(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlprom", "-c", str(cwd / "mlprom.yaml"), "-o", "json", *args],
        cwd=cwd,
        env={**os.environ, "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": SAMPLING_SECONDS},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def _register(uri: str, name: str = "churn") -> None:
    """Two versions of a sum-rule pyfunc under `name`, each batch sleeping BATCH_SLEEP s (so a capture
    outlasts a few system-metrics intervals); alias `champion` on version 2."""
    import mlflow
    import mlflow.pyfunc

    class SumRule(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            time.sleep(BATCH_SLEEP)
            return ((model_input["x1"] + model_input["x2"]) > 1).astype(int)

    mlflow.set_tracking_uri(uri)
    for _ in range(2):
        mlflow.pyfunc.log_model(
            name="model", python_model=SumRule(), registered_model_name=name, pip_requirements=["mlflow"]
        )
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", "2")


def _write_inputs(work: Path, uri: str, experiment: str, **mlflow_options: Any) -> None:
    rows = ["x1,x2,label"] + [f"{i / 30:.3f},{(30 - i) / 60:.3f},{i % 2}" for i in range(30)]
    (work / "in.csv").write_text("\n".join(rows) + "\n")
    config = {
        "storage": {"url": str(work / "data")},
        "mlflow": {"tracking_uri": uri, "experiment": experiment, **mlflow_options},
        "model": {"name": "churn", "latency_threshold": "5s", "sample_rate": 0.0},
    }
    (work / "mlprom.yaml").write_text(json.dumps(config))  # JSON is YAML


def _check_capture(work: Path, uri: str, name: str = "churn") -> str:
    """The good path: run, tags, inputs, metrics on the run and on the LoggedModel, system metrics (with
    psutil; else the warning), the summary artifact. The run's id."""
    from mlflow.tracking import MlflowClient

    _write_inputs(work, uri, "compat", system_metrics=True)
    done = _mlprom(
        "capture-model", "--model-uri", f"models:/{name}@champion", "--input", str(work / "in.csv"),
        "--label-column", "label", "--batch-size", "10", cwd=work,
    )  # fmt: skip
    _expect(done.returncode == 0, f"capture-model exited {done.returncode}: {done.stderr[-1500:]}")
    result = json.loads(done.stdout)
    if not _has("psutil"):
        _expect("psutil is not installed" in done.stderr, f"no psutil warning: {done.stderr[-800:]}")
    client = MlflowClient(uri)
    run = client.get_run(result["mlflow_run_id"])
    _expect(run.info.status == "FINISHED", f"run status {run.info.status}")
    if _has("psutil"):
        system = sorted(k for k in run.data.metrics if k.startswith("system/"))
        _expect(bool(system), f"no system/* metrics: {sorted(run.data.metrics)} {done.stderr[-800:]}")
    _expect(
        re.fullmatch(r"capture-churn-\d{4}-\d{2}-\d{2}-\d{6}-[0-9a-f]{4}", run.info.run_name) is not None,
        f"run name {run.info.run_name}",
    )
    tags = run.data.tags
    _expect(bool(tags.get("mlflow.user")) and tags.get("mlflow.source.type") == "LOCAL", f"tags {tags}")
    _expect(run.data.params.get("model_loaded_uri") == f"models:/{name}/2", f"params {run.data.params}")
    (dataset,) = run.inputs.dataset_inputs
    _expect(dataset.dataset.name == "in.csv" and dataset.dataset.source_type == "local", "dataset input")
    _expect(json.loads(dataset.dataset.profile)["rows"] == 30, f"profile {dataset.dataset.profile}")
    version = client.get_model_version(name, "2")
    model_id = version.model_id or version.source.removeprefix("models:/")  # sqlite leaves model_id empty
    _expect([m.model_id for m in run.inputs.model_inputs] == [model_id], "model input")
    summary = {"accuracy", "prediction_time_p95_seconds", "rows"}
    _expect(summary <= set(run.data.metrics), f"run metrics {sorted(run.data.metrics)}")
    logged = {m.key: m for m in client.get_logged_model(model_id).metrics or []}
    _expect(summary <= set(logged), f"LoggedModel metrics {sorted(logged)}")
    _expect(logged["accuracy"].value == result["quality"]["accuracy"], "LoggedModel accuracy")
    _expect(logged["rows"].dataset_name == "in.csv", "LoggedModel metric's dataset")
    path = client.download_artifacts(run.info.run_id, "capture-summary.json", str(work))
    _expect(json.loads(Path(path).read_text()) == result, "capture-summary.json differs from -o json")
    return str(run.info.run_id)


def _check_failures(work: Path, uri: str) -> None:
    """Failures end the run FAILED (or create none) with the contract's exit code, never RUNNING."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    _write_inputs(work, uri, "compat-failures")
    done = _mlprom(
        "capture-model", "--model-uri", "models:/churn/9", "--input", str(work / "in.csv"), cwd=work
    )
    _expect(done.returncode == 2, f"missing version: exit {done.returncode}: {done.stderr[-800:]}")
    (work / "broken_model.py").write_text("def predict(frame):\n    raise RuntimeError('no')\n")
    done = _mlprom(
        "capture-model", "--model", "broken_model:predict", "--input", str(work / "in.csv"), cwd=work
    )
    _expect(done.returncode == 2, f"raising model: exit {done.returncode}: {done.stderr[-800:]}")
    experiment = client.get_experiment_by_name("compat-failures")
    statuses = [r.info.status for r in client.search_runs([experiment.experiment_id])]
    _expect(statuses == ["FAILED"], f"failed runs' statuses {statuses}")


# What mlflow-skinny leaves out and the `tracking` extra must not bring back: the SQLAlchemy stores and
# their migrations, and the server's web stack.
NOT_IN_TRACKING = ("sqlalchemy", "alembic", "flask")


def _check_database_store_refused(work: Path) -> None:
    """On mlflow-skinny a sqlite store, named or MLflow's default (sqlite:///mlflow.db), is refused: exit 2,
    one line naming the `mlflow` extra, nothing on stdout, no run, no database file."""
    for uri in (f"sqlite:///{work / 'refused.db'}", None):
        (work / "refused").mkdir(exist_ok=True)
        config = {"storage": {"url": str(work / "refused" / "data")}, "model": {"name": "churn"}}
        if uri is not None:
            config["mlflow"] = {"tracking_uri": uri}
        (work / "refused" / "mlprom.yaml").write_text(json.dumps(config))
        (work / "refused" / "in.csv").write_text("x1,x2\n0.1,0.2\n")
        done = _mlprom(
            "capture-model", "--model-uri", "models:/churn@champion", "--input", "in.csv",
            cwd=work / "refused",
        )  # fmt: skip
        shown = uri or "the default store"
        _expect(done.returncode == 2, f"{shown}: exit {done.returncode}: {done.stderr[-800:]}")
        lines = done.stderr.strip().splitlines()
        _expect(len(lines) == 1 and "pip install 'mlprom[mlflow]'" in lines[0], f"{shown}: {done.stderr}")
        _expect(done.stdout == "" and "Traceback" not in done.stderr, f"{shown}: {done.stdout!r}")
        _expect(not list((work / "refused").glob("*.db")), f"{shown}: a database file was created")
        _expect(not (work / "refused.db").exists(), f"{shown}: {work / 'refused.db'} was created")


def check_tracking(server: str, name: str) -> None:
    """Run in a venv holding the `tracking` extra: no SQLAlchemy stack, a capture against the tracking
    server `server` (model `name` registered there), database stores refused. Prints the run's id."""
    import mlflow

    present = [m for m in NOT_IN_TRACKING if _has(m)]
    _expect(not present, f"the tracking extra installed {present}")
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        os.chdir(work)
        run_id = _check_capture(work, server, name)
        _check_database_store_refused(work)
    print(json.dumps({"mlflow": mlflow.__version__, "ok": True, "run_id": run_id}))


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def check() -> None:
    """Run in the venv under test: print the MLflow version and OK, or the first failed check."""
    import mlflow

    _expect(_has("psutil"), "the system-metrics extra installed no psutil")
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        os.chdir(work)  # the sqlite store's artifacts (./mlruns) stay in the temporary directory
        uri = f"sqlite:///{work / 'mlflow.db'}"
        _register(uri)
        _check_capture(work, uri)
        _check_failures(work, uri)
    print(json.dumps({"mlflow": mlflow.__version__, "ok": True}))


# ---------------------------------------------------------------- the driver


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def _venv_env() -> dict[str, str]:
    """The environment of the venv's commands: no PYTHONPATH (a source tree on it, with the egg-info the
    build leaves there, would make pip see mlprom as installed and the check import the tree, not the
    wheel), no MLFLOW_* of the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH", "PYTHONHOME"))}


def _build_wheel(out: Path) -> Path:
    done = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)])
    if done.returncode != 0:
        raise SystemExit(f"building the wheel failed: {done.stderr[-2000:]}")
    (wheel,) = out.glob("mlprom-*.whl")
    return wheel


def _install(python: str, wanted: list[str], wheelhouse: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`wanted` (`<wheel>[mlflow,system-metrics]` and mlflow==version) from the wheelhouse, offline; what
    it lacks is downloaded into it first. (pip's own cache does not help here: this index's answers are not
    cacheable, so each install would download some 700 MB again.) --no-compile: nothing is imported
    twice, so .pyc files only cost. `cwd` is not a source tree: `python -m pip` puts the working
    directory on sys.path."""
    offline = [python, "-m", "pip", "install", "-q", "--no-compile", "--no-index"]
    offline += ["--find-links", str(wheelhouse)]
    env = _venv_env()
    done = _run([*offline, *wanted], env=env, cwd=cwd)
    if done.returncode != 0:
        wheelhouse.mkdir(parents=True, exist_ok=True)
        download = [python, "-m", "pip", "download", "-q", "-d", str(wheelhouse), *wanted]
        done = _run(download, env=env, cwd=cwd)
        if done.returncode == 0:
            done = _run([*offline, *wanted], env=env, cwd=cwd)
    return done


def compat(
    version: str, wheel: Path, work: Path, wheelhouse: Path, server: str | None = None
) -> dict[str, Any]:
    """Install `wheel[mlflow,system-metrics]` with mlflow==version into a fresh venv and run --check
    there; with `server`, `wheel[tracking]` with mlflow-skinny==version, a model registered on that
    tracking server by this interpreter's MLflow, and --check-tracking."""
    package, extra = ("mlflow-skinny", "tracking") if server else ("mlflow", "mlflow,system-metrics")
    venv = work / f"{package}-{version}"
    python = str(venv / "bin" / "python")
    started = time.monotonic()
    done = _run([sys.executable, "-m", "venv", str(venv)])
    if done.returncode == 0:
        done = _install(python, [f"{wheel}[{extra}]", f"{package}=={version}"], wheelhouse, work)
    installed = time.monotonic()
    if done.returncode != 0:
        return {"mlflow": version, "package": package, "ok": False,
                "install_seconds": round(installed - started, 1),
                "error": f"install failed: {done.stderr.strip()[-1500:]}"}  # fmt: skip
    here = str(Path(__file__).resolve())
    check = [python, here, "--check"]
    if server:
        name = f"churn-{os.urandom(4).hex()}"
        done = _run([sys.executable, here, "--register", server, name], cwd=work, timeout=300)
        if done.returncode != 0:
            return {"mlflow": version, "package": package, "ok": False,
                    "error": f"registering the model failed: {done.stderr.strip()[-1500:]}"}  # fmt: skip
        check = [python, here, "--check-tracking", server, name]
    done = _run(check, env=_venv_env(), cwd=work, timeout=600)
    report: dict[str, Any] = {
        "mlflow": version,
        "package": package,
        "ok": done.returncode == 0,
        "install_seconds": round(installed - started, 1),
        "check_seconds": round(time.monotonic() - installed, 1),
    }
    if done.returncode != 0:
        report["error"] = (done.stderr.strip() or done.stdout.strip())[-1500:]
    else:
        checked = json.loads(done.stdout.strip().splitlines()[-1])
        report["installed"] = checked["mlflow"]
        if "run_id" in checked:
            report["run_id"] = checked["run_id"]
    return report


def invoke(
    args: list[str], cwd: Path, timeout: float
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """This file run with `args` in a new process (the suite's tests call it so): the finished process
    and the report it printed for each version, in order."""
    done = _run([sys.executable, str(Path(__file__).resolve()), *args], timeout=timeout, cwd=cwd)
    return done, [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", default=[LOWEST, NEWEST])
    parser.add_argument("--wheel", type=Path, help="an mlprom wheel to install instead of building one")
    parser.add_argument(
        "--wheelhouse",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlprom" / "compat-wheels",
        help="where the dependencies' wheels are kept between runs",
    )
    parser.add_argument(
        "--tracking",
        metavar="URL",
        help="check the `tracking` extra (mlflow-skinny) against this running tracking server instead",
    )
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check-tracking", nargs=2, metavar=("URL", "NAME"), help=argparse.SUPPRESS)
    parser.add_argument("--register", nargs=2, metavar=("URL", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        check()
        return
    if args.check_tracking:
        check_tracking(*args.check_tracking)
        return
    if args.register:
        _register(*args.register)
        return
    failed = False
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        wheel = args.wheel or _build_wheel(work / "dist")
        for version in args.versions:
            report = compat(version, wheel, work, args.wheelhouse, args.tracking)
            failed |= not report["ok"]
            print(json.dumps(report), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
