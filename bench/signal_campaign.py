"""SIGTERM and SIGINT at random moments of real `mlprom capture-model` runs: events lost, tracebacks, runs left open.

Each case starts `python -m mlprom capture-model` in a child process over a CSV with a model that sleeps
per batch and notes each batch it finished in a side file (latency_threshold 0: every finished batch
must become an event). At a random moment from start-up to the end of the run, the campaign reads how
many batches the model had finished and sends SIGTERM or SIGINT (half each). After the child exits it
counts the events stored, reads the MLflow run's status back from the sqlite store, and checks stderr.

Goals: 0 events lost of the batches finished before the signal, 0 tracebacks, 0 MLflow runs left
RUNNING, exit codes only 143 / 130 (or 0 when the run ended before the signal arrived).

A signal in the interpreter's own start-up (site-packages, .pth files, the import of the package: the
first 20-40 ms, before mlprom's first handler is installed) gets Python's defaults: killed by SIGTERM,
a KeyboardInterrupt traceback for SIGINT. Nothing has started then (no run, no event); such cases are
counted on their own line, not hidden among the others.

Run: python bench/signal_campaign.py [--cases 40] [--seed 1] [--rows 300] [--batch-size 5] [--sleep 0.03]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from scaffold import machine_line

ROOT = Path(__file__).resolve().parents[1]

MODEL_MODULE = '''"""The campaign's model: sleeps per batch, then notes the batch as finished, as its last act."""
import os
import time

# Opened once: the note is one write right before returning, so "finished" is as close to the return
# as an outside observer can get.
LOG = os.open(os.environ["CAMPAIGN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def predict(frame):
    time.sleep(float(os.environ["CAMPAIGN_SLEEP"]))
    output = ((frame["x1"] + frame["x2"]) > 1).astype(int)
    os.write(LOG, b"done\\n")
    return output
'''


def finished(log: Path) -> int:
    try:
        return log.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.03, help="seconds the model sleeps per batch")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    import yaml
    from mlflow.tracking import MlflowClient

    from mlprom.config import load_config
    from mlprom.events.log import iter_events
    from mlprom.storage import open_storage

    with tempfile.TemporaryDirectory(prefix="mlprom-signals-") as name:
        tmp = Path(name)
        (tmp / "campaign_model.py").write_text(MODEL_MODULE)
        (tmp / "in.csv").write_text(
            "x1,x2\n" + "".join(f"{(i % 10) / 10},{(i % 7) / 7:.3f}\n" for i in range(args.rows))
        )
        tracking = f"sqlite:///{tmp / 'mlflow.db'}"
        MlflowClient(tracking).search_experiments()  # the schema, once, outside any case
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        env["CAMPAIGN_SLEEP"] = str(args.sleep)
        batches = -(-args.rows // args.batch_size)

        def start(case: int) -> tuple[subprocess.Popen[bytes], Path, Path]:
            config = tmp / f"case-{case}.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "storage": {"url": str(tmp / "data")},
                        "mlflow": {"tracking_uri": tracking, "experiment": f"case-{case}"},
                        "model": {"name": f"case-{case}", "latency_threshold": 0, "sample_rate": 0},
                    }
                )
            )
            log = tmp / f"case-{case}.log"
            argv = [sys.executable, "-m", "mlprom", "-c", str(config), "-o", "json", "capture-model"]
            argv += ["--input", str(tmp / "in.csv"), "--model", "campaign_model:predict"]
            argv += ["--batch-size", str(args.batch_size)]
            child = subprocess.Popen(
                argv,
                cwd=tmp,
                env={**env, "CAMPAIGN_LOG": str(log)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            return child, config, log

        # Calibration: one run to the end, so signals can fall anywhere from start-up to completion.
        child, _, _ = start(-1)
        began = time.monotonic()
        child.communicate(timeout=600)
        full = time.monotonic() - began
        if child.returncode != 0:
            sys.exit(f"calibration run failed with {child.returncode}")

        phases: Counter[str] = Counter()
        codes: Counter[str] = Counter()
        lost = tracebacks = left_running = unexpected = measured_before = stored_total = before_mlprom = 0
        for case in range(args.cases):
            sig = signal.SIGTERM if case % 2 == 0 else signal.SIGINT
            delay = rng.uniform(0.0, full * 1.05)
            child, config_path, log = start(case)
            time.sleep(delay)
            done_before = finished(log)
            if child.poll() is None:
                child.send_signal(sig)
            _, err = child.communicate(timeout=600)
            stderr = err.decode(errors="replace")
            config = load_config(str(config_path))
            stored = len(list(iter_events(open_storage(config), datetime.now(UTC).date(), f"case-{case}")))
            client = MlflowClient(tracking)
            experiment = client.get_experiment_by_name(f"case-{case}")
            runs = client.search_runs([experiment.experiment_id]) if experiment else []
            statuses = [r.info.status for r in runs]

            expected = {128 + sig, 0}
            codes[f"{sig.name} -> {child.returncode}"] += 1
            if child.returncode == -sig and statuses == ["FINISHED"] and stored == batches:
                # Everything done and stored; the signal met Python's finalization, which puts the
                # default handlers back: killed by the signal (a shell shows 128 + signal all the same).
                phases["after the run ended (interpreter finalization)"] += 1
                continue
            nothing_started = not runs and stored == 0 and "mlprom: interrupted" not in stderr
            if child.returncode not in expected and nothing_started:
                # Python's own start-up, before mlprom's first line: see the docstring.
                before_mlprom += 1
                phases["interpreter start-up, before mlprom's handlers (Python's defaults)"] += 1
                continue
            unexpected += child.returncode not in expected
            tracebacks += "Traceback" in stderr
            left_running += statuses.count("RUNNING")
            lost += max(0, done_before - stored)
            measured_before += done_before
            stored_total += stored
            if child.returncode == 0:
                phases["after the run ended"] += 1
            elif not runs:
                phases["before the MLflow run existed (start-up, imports)"] += 1
            elif done_before == 0:
                phases["run started, no batch finished yet"] += 1
            else:
                phases["mid-capture"] += 1

    print(machine_line())
    print(
        f"command: python bench/signal_campaign.py --cases {args.cases} --seed {args.seed} --rows {args.rows} "
        f"--batch-size {args.batch_size} --sleep {args.sleep}"
    )
    print(
        f"one uninterrupted run: {full:.1f} s for {batches} batches; signals at uniform(0, {full * 1.05:.1f}) s\n"
    )
    print("| when the signal arrived | cases |")
    print("| --- | ---: |")
    for phase, count in sorted(phases.items()):
        print(f"| {phase} | {count} |")
    print("\n| signal -> exit code | cases |")
    print("| --- | ---: |")
    for code, count in sorted(codes.items()):
        print(f"| {code} | {count} |")
    print(
        f"\ncases: {args.cases}; batches finished before the signal: {measured_before}; events stored: "
        f"{stored_total}\nevents lost of batches finished before the signal: {lost} (goal 0)\n"
        f"tracebacks: {tracebacks} (goal 0)\nMLflow runs left RUNNING: {left_running} (goal 0)\n"
        f"exit codes other than 128+signal (or 0 after the end): {unexpected} (goal 0)\n"
        f"signals in the interpreter's start-up, before mlprom's handlers (Python's defaults): {before_mlprom}"
    )
    sys.exit(0 if lost == tracebacks == left_running == unexpected == 0 else 1)


if __name__ == "__main__":
    main()
