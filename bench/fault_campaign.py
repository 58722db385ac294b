"""Fault campaign: mlprom against hostile upstreams, each run in a child process, bounded by its deadline.

Every upstream (Prometheus, Alertmanager, Pushgateway, the MLflow tracking server, S3 through a faulty
proxy in front of a real moto_server) is tried with every fault of tests/fixtures/hostile.py, with the
commands that talk to it, plus generated variants: Prometheus answers of random wrong shapes, random
status codes and bodies, odd Retry-After values. For each run: is the exit code in the contract's set,
did a traceback or a secret reach the output, did it end by its documented deadline (+ start-up margin)?

Run: python bench/fault_campaign.py [--variants 60] [--workers 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from scaffold import machine_line, start_moto

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.hostile import (  # noqa: E402
    BASE_FAULTS,
    PROMETHEUS_OK,
    Behaviour,
    FaultyProxy,
    HostileServer,
    ok,
    running_faulty_proxy,
    running_hostile_server,
)

CONTRACT = {0, 1, 2, 3, 4}
TIMEOUT = 1.0  # every configured timeout in the campaign
MARGIN = 6.0  # interpreter and import start-up (MLflow's is ~3 s) on a shared machine
MLFLOW_PROBE = 5.0  # clients.mlflow_tracking.PROBE_TIMEOUT
MLFLOW_CALL = 3.0  # (0 retries + 1) x 1 s + 2 s, with the MLflow variables below
SECRETS = ("pw-secret-1", "token-secret-2", "aws-secret-3", "am-secret-4", "pg-secret-5", "mlflow-secret-6")
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-3",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "1",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_TRACKING_URI": "",
}
MODEL = "tests.fixtures.mlflow_server:sum_rule_predict"


@dataclass(frozen=True)
class Case:
    name: str
    upstream: str  # prometheus | alertmanager | pushgateway | mlflow | s3
    command: str  # capture-infra | alert | check | capture-model
    behaviour: Behaviour | None  # None for s3 (the proxy's mode is in `mode`)
    mode: str = ""


@dataclass
class Outcome:
    case: Case
    exit_code: int | None  # None: killed past its deadline
    seconds: float
    deadline: float
    traceback: bool
    leaked: bool
    stderr: str


# ---------------------------------------------------------------- generated variants


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.choice([0.5, -1e308, 1e-300]),
        lambda: rng.choice(["", "NaN", "+Inf", "abc", "1e500", "\u202e", "[/id]", "x" * 1000]),
    ]
    if depth < 3:
        choices += [
            lambda: [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
            lambda: {rng.choice(["metric", "value", "values", "x"]): _random_value(rng, depth + 1)},
        ]
    return rng.choice(choices)()


def _mutated_prometheus_answer(rng: random.Random) -> Any:
    """A valid vector answer with one random part replaced by something of a random type."""
    answer: dict[str, Any] = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"instance": "a:9100"}, "value": [1764000000, "0.5"]},
                {"metric": {"instance": "b:9100", "job": "node"}, "value": [1764000000, "1"]},
            ],
        },
    }
    paths: list[list[Any]] = [
        ["status"],
        ["data"],
        ["data", "resultType"],
        ["data", "result"],
        ["data", "result", 0],
        ["data", "result", 1, "metric"],
        ["data", "result", 1, "metric", "job"],
        ["data", "result", 0, "value"],
        ["data", "result", 0, "value", 0],
        ["data", "result", 0, "value", 1],
        ["warnings"],
    ]
    path = rng.choice(paths)
    target: Any = answer
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = _random_value(rng)
    return answer


def _retry_after_variant(rng: random.Random) -> Behaviour:
    value = rng.choice(["-5", "0", "1e9", "soon", "Wed, 21 Oct 2099 07:28:00 GMT", "99999999999", "2.5"])
    status = rng.choice([429, 503])
    return Behaviour("normal", status, b"busy", (("Content-Type", "text/plain"), ("Retry-After", value)))


def _status_variant(rng: random.Random) -> Behaviour:
    status = rng.choice([201, 204, 301, 302, 400, 401, 403, 404, 405, 409, 413, 418, 422, 500, 501, 502, 504])
    body = rng.choice([b"", b"{}", b"null", b"\xff\xfe\x00garbage", b'{"status":"error"}', b"<html>x</html>"])
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    if status in (301, 302):
        headers += (("Location", "http://127.0.0.1:9/elsewhere"),)
    return Behaviour("normal", status, body, headers)


def cases(variants: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    out: list[Case] = []
    for fault, behaviour in sorted(BASE_FAULTS.items()):
        out.append(Case(f"prometheus/{fault}/capture-infra", "prometheus", "capture-infra", behaviour))
        out.append(Case(f"prometheus/{fault}/check", "prometheus", "check", behaviour))
        out.append(Case(f"alertmanager/{fault}/alert", "alertmanager", "alert", behaviour))
        out.append(Case(f"alertmanager/{fault}/check", "alertmanager", "check", behaviour))
        out.append(Case(f"pushgateway/{fault}/heartbeat", "pushgateway", "capture-infra", behaviour))
        out.append(Case(f"pushgateway/{fault}/check", "pushgateway", "check", behaviour))
        out.append(Case(f"mlflow/{fault}/capture-model", "mlflow", "capture-model", behaviour))
        out.append(Case(f"mlflow/{fault}/check", "mlflow", "check", behaviour))
    out.append(Case("alertmanager/bad-labels/alert", "alertmanager", "alert", Behaviour("alertmanager")))
    for mode in ("stall", "reset", "trickle"):
        out.append(Case(f"s3/{mode}/capture-infra", "s3", "capture-infra", None, mode))
        out.append(Case(f"s3/{mode}/check", "s3", "check", None, mode))
        out.append(Case(f"s3/{mode}/alert", "s3", "alert", None, mode))
    for i in range(variants):
        kind = i % 3
        if kind == 0:
            behaviour = ok(_mutated_prometheus_answer(rng))
            out.append(Case(f"prometheus/shape-{i}/capture-infra", "prometheus", "capture-infra", behaviour))
        elif kind == 1:
            behaviour = _retry_after_variant(rng)
            upstream = rng.choice(["prometheus", "alertmanager", "pushgateway"])
            command = {"prometheus": "capture-infra", "alertmanager": "alert", "pushgateway": "capture-infra"}
            out.append(
                Case(
                    f"{upstream}/retry-after-{i}/{command[upstream]}", upstream, command[upstream], behaviour
                )
            )
        else:
            behaviour = _status_variant(rng)
            upstream = rng.choice(["prometheus", "alertmanager", "pushgateway", "mlflow"])
            command = {
                "prometheus": "capture-infra",
                "alertmanager": "alert",
                "pushgateway": "capture-infra",
                "mlflow": "check",
            }
            out.append(
                Case(f"{upstream}/status-{i}/{command[upstream]}", upstream, command[upstream], behaviour)
            )
    return out


# ---------------------------------------------------------------- one run


def _deadline(case: Case) -> float:
    """The documented worst case of the command with every timeout at TIMEOUT (docs/reliability.md).

    Every command here also pushes its heartbeat (pushgateway.url is set): one more pushgateway.timeout.
    """
    push = TIMEOUT
    if case.command == "capture-model":
        return MLFLOW_PROBE + MLFLOW_CALL + push
    if case.command == "check":
        # Targets concurrently (MLflow's probe is the longest), then the heartbeat push.
        return (MLFLOW_PROBE if case.upstream == "mlflow" else TIMEOUT) + push
    if case.command == "alert":
        # Replicas concurrently; on S3 also the report and state reads and the state and run writes.
        return TIMEOUT + (4 * TIMEOUT if case.upstream == "s3" else 0) + push
    # capture-infra: one query, one PutObject, the push
    return TIMEOUT + TIMEOUT + push


def _seed_report(config: Path) -> None:
    """A report with one finding (its series has a label name Alertmanager would refuse)."""
    from tests.faults.harness import seed_report

    seed_report(config, [{"instance": "a:9100", "bad-name": "x"}])


@contextlib.contextmanager
def _upstreams(case: Case, moto: str) -> Iterator[tuple[HostileServer, HostileServer, FaultyProxy | None]]:
    """The hostile server for the case's upstream, a healthy one for the others, the S3 proxy if any."""
    healthy = Behaviour("normal", 200, b"OK", (("Content-Type", "text/plain"),))
    with (
        running_hostile_server(PROMETHEUS_OK) as good,
        running_hostile_server(case.behaviour or healthy) as bad,
    ):
        good.rules = [
            ("/-/ready", healthy),
            ("/health", healthy),
            ("/metrics/", healthy),
            ("/api/v2/", healthy),
        ]
        if case.upstream == "mlflow" and case.command == "capture-model" and case.behaviour is not None:
            bad.rules = [("/health", healthy)]  # the probe passes; MLflow's own client meets the fault
        if case.upstream == "s3":
            with running_faulty_proxy(moto, case.mode) as proxy:
                yield good, bad, proxy
        else:
            yield good, bad, None


def run_case(case: Case, moto: str, bucket: str, workdir: Path) -> Outcome:
    with _upstreams(case, moto) as (good, bad, proxy):

        def pick(name: str, server_secret: str) -> str:
            server = bad if case.upstream == name else good
            return server.url_with(server_secret)

        work = Path(tempfile.mkdtemp(dir=workdir))
        token = work / "token"
        token.write_text("token-secret-2")
        storage: dict[str, Any] = {"url": str(work / "data")}
        if proxy is not None:
            storage = {
                "url": f"s3://{bucket}/{work.name}",
                "endpoint_url": proxy.url,
                "region": "us-east-1",
                "timeout": f"{TIMEOUT:g}s",
            }
        document: dict[str, Any] = {
            "storage": storage,
            "prometheus": {
                "url": pick("prometheus", "alice:pw-secret-1"),
                "timeout": f"{TIMEOUT:g}s",
                "bearer_token_file": str(token),
            },
            "alertmanager": {"urls": [pick("alertmanager", "bob:am-secret-4")], "timeout": f"{TIMEOUT:g}s"},
            "pushgateway": {"url": pick("pushgateway", "carol:pg-secret-5"), "timeout": f"{TIMEOUT:g}s"},
            "model": {"name": "m"},
            "queries": {"cpu_usage": "cpu_usage_expr"},
            "thresholds": {"cpu_usage": 0.9},
        }
        if case.upstream == "mlflow":
            document["mlflow"] = {"tracking_uri": bad.url_with("dave:mlflow-secret-6"), "experiment": "c"}
        config = work / "mlprom.yaml"
        if case.command == "alert":
            # The report is written through a healthy path first, then the run meets the fault.
            healthy_doc = dict(document, storage={"url": str(work / "data")})
            if proxy is not None:
                proxy.mode, mode = "pass", proxy.mode
                healthy_doc["storage"] = storage
                config.write_text(yaml.safe_dump(healthy_doc))
                _seed_report(config)
                proxy.mode = mode
            else:
                config.write_text(yaml.safe_dump(healthy_doc))
                _seed_report(config)
        config.write_text(yaml.safe_dump(document))
        args = ["-c", str(config), case.command]
        if case.command == "alert":
            args += ["--date", "2026-11-20"]
        if case.command == "capture-model":
            (work / "in.csv").write_text("x1,x2\n0.1,0.2\n0.9,0.8\n")
            args += ["--input", str(work / "in.csv"), "--model", MODEL]
        deadline = _deadline(case)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "mlprom", *args],
                capture_output=True,
                text=True,
                timeout=deadline + MARGIN,
                env={**os.environ, **ENV},
                cwd=work,
                check=False,
            )
            code: int | None = done.returncode
            output = done.stdout + done.stderr
            stderr = done.stderr
        except subprocess.TimeoutExpired as exc:
            code = None
            output = str(exc.stdout or "") + str(exc.stderr or "")
            stderr = str(exc.stderr or "")
        seconds = time.monotonic() - started
    return Outcome(
        case,
        code,
        seconds,
        deadline,
        "Traceback" in output,
        any(secret in output for secret in SECRETS),
        stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=60, help="generated cases beyond the fixed matrix")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print every case")
    args = parser.parse_args()

    campaign = cases(args.variants, args.seed)
    # This process writes the alert cases' reports to moto before each run.
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    with tempfile.TemporaryDirectory(prefix="mlprom-faults-") as tmp:
        workdir = Path(tmp)
        moto_process, moto = start_moto(workdir)
        try:
            import boto3

            bucket = "fault-campaign"
            boto3.client(
                "s3",
                endpoint_url=moto,
                region_name="us-east-1",
                aws_access_key_id="t",
                aws_secret_access_key="t",
            ).create_bucket(Bucket=bucket)
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                outcomes = list(pool.map(lambda c: run_case(c, moto, bucket, workdir), campaign))
            wall = time.monotonic() - started
        finally:
            moto_process.terminate()
            moto_process.wait(timeout=10)

    hangs = [o for o in outcomes if o.exit_code is None]
    tracebacks = [o for o in outcomes if o.traceback]
    leaks = [o for o in outcomes if o.leaked]
    outside = [o for o in outcomes if o.exit_code is not None and o.exit_code not in CONTRACT]
    codes: dict[str, int] = {}
    for o in outcomes:
        key = "hang" if o.exit_code is None else str(o.exit_code)
        codes[key] = codes.get(key, 0) + 1
    worst = max(outcomes, key=lambda o: o.seconds - o.deadline)
    if args.verbose:
        for o in outcomes:
            print(f"{o.case.name:50} exit={o.exit_code} {o.seconds:5.2f}s / {o.deadline:g}s")
    print("## Fault campaign")
    command = f"python bench/fault_campaign.py --variants {args.variants} --workers {args.workers} --seed {args.seed}"
    print(f"- command: `{command}`")
    print(f"- {machine_line()}")
    print(
        f"- cases tried: {len(outcomes)} ({len(outcomes) - args.variants} fixed, {args.variants} generated)"
    )
    print(f"- tracebacks: {len(tracebacks)} (goal 0)")
    print(f"- hangs past the deadline (+{MARGIN:g} s start-up margin): {len(hangs)} (goal 0)")
    print(
        f"- exit codes outside the contract: {len(outside)} (goal 0); secrets printed: {len(leaks)} (goal 0)"
    )
    print(f"- exit codes: {json.dumps(dict(sorted(codes.items())))}")
    print(
        f"- longest run past its deadline: {worst.case.name} {worst.seconds:.2f} s for a {worst.deadline:g} s"
        f" deadline (start-up included); wall time {wall:.0f} s with {args.workers} workers"
    )
    for label, bad in (("hang", hangs), ("traceback", tracebacks), ("leak", leaks), ("exit code", outside)):
        for o in bad:
            print(f"  {label}: {o.case.name}: {o.stderr.strip()[-400:]}")
    if hangs or tracebacks or leaks or outside:
        sys.exit(1)


if __name__ == "__main__":
    main()
