"""Fault campaign: mlprom against hostile upstreams, each run in a child process, bounded by its deadline.

Every upstream (Prometheus, Alertmanager, Pushgateway, the MLflow tracking server, S3 through a faulty
proxy in front of a real moto_server) is tried with every fault of tests/fixtures/hostile.py, with the
commands that talk to it, plus generated variants: Prometheus answers of random wrong shapes, random
status codes and bodies, odd Retry-After values; then redirects (every code, on each upstream) and the
operators'-hands classes, run on this machine's files: a FIFO, socket or /dev/zero where the config, a token
file or a stored object should be, a held state lock, `report --out` at a FIFO, symlink, socket, directory
or device, an S3 endpoint whose listing never ends, and the store as it really is (huge finite values,
times at the calendar's ends, a partition that is a symlink loop or a file, an over-cap snapshot, a
looping object, a 200 MB line, random bytes, a gzip bomb), and what a person reads (a label with a
right-to-left override, ESC and BEL through alert --dry-run in JSON, markdown and table and the HTML
report; a javascript: runbook_url; series differing only in __name__ as two alerts; prune when the
store's newest write is 400 days old), and what a run is given or meets while it stores (a
10,000-column CSV to capture-model, and one whose last row is a field short; a disk that is full once
Alertmanager has taken the alerts, RLIMIT_FSIZE 0 in the child; an archived range stored invalid, its
values null, a time at +-1e300 or its JSON cut short, which a re-run must replace). For each run: is
the exit code in the contract's set, did a traceback or a secret reach the output, did it end by its
documented deadline (+ start-up margin)? Cases with an expected outcome also count as handled when the
exit code is the expected one, the message names the culprit and nothing stored before the run is lost.

Run: python bench/fault_campaign.py [--variants 60] [--workers 4] [--seed 1] [--only hands|stored|shown|input]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
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
    running_paging_s3,
)

CONTRACT = {0, 1, 2, 3, 4}
TIMEOUT = 1.0  # every configured timeout in the campaign
MARGIN = 6.0  # interpreter and import start-up (MLflow's is ~3 s) on a shared machine
MLFLOW_PROBE = 5.0  # clients.mlflow_tracking.PROBE_TIMEOUT
MLFLOW_CALL = 3.0  # (0 retries + 1) x 1 s + 2 s, with the MLflow variables below
SECRETS = (
    "pw-secret-1",
    "token-secret-2",
    "aws-secret-3",
    "am-secret-4",
    "pg-secret-5",
    "mlflow-secret-6",
    "redirect-secret-7",
)
REDIRECT_CODES = (301, 302, 303, 307, 308)
# Another host:port (nothing listens on 9), with credentials that no message may show.
ELSEWHERE = "http://eve:redirect-secret-7@127.0.0.1:9/landing?token=redirect-secret-7"
LIST_TIMEOUTS = 10  # storage.s3.LIST_TIMEOUTS: a listing's budget in storage.timeouts
DAY = "2026-11-20"
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
    expect: int | None = None  # the exit code a handled run ends with, where the case has one
    names: str = ""  # what its message must name (the Location, the file, the key)


@dataclass
class Outcome:
    case: Case
    exit_code: int | None  # None: killed past its deadline
    seconds: float
    deadline: float
    traceback: bool
    leaked: bool
    stderr: str
    lost: bool = False  # a stored object present before the run is gone or changed
    shown_ok: bool = True  # "shown" cases: what the run printed or wrote passed the case's own check

    @property
    def handled(self) -> bool:
        return (
            self.case.expect is not None
            and self.exit_code == self.case.expect
            and self.case.names in self.stderr
            and not self.lost
            and self.shown_ok
        )


@dataclass(frozen=True)
class Ran:
    """One child `python -m mlprom` run: its exit code (None: killed past its deadline), output, time."""

    code: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


# The child that meets a full disk: every file it writes may hold at most 0 bytes (RLIMIT_FSIZE), and
# SIGXFSZ is ignored so a write fails with EFBIG instead of killing it; both survive the exec. Set here,
# not in preexec_fn, which is unsafe with the campaign's worker threads.
DISK_FULL = (
    "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)); "
    "os.execv(sys.executable, [sys.executable, '-m', 'mlprom', *sys.argv[1:]])"
)


def _run_mlprom(args: list[str], deadline: float, work: Path, disk_full: bool = False) -> Ran:
    """`python -m mlprom ARGS` in `work`, killed `MARGIN` seconds past `deadline` (with `disk_full`, in a
    process that can write no byte to any file)."""
    started = time.monotonic()
    start = [sys.executable, "-c", DISK_FULL] if disk_full else [sys.executable, "-m", "mlprom"]
    try:
        done = subprocess.run(
            [*start, *args],
            capture_output=True,
            text=True,
            timeout=deadline + MARGIN,
            env={**os.environ, **ENV},
            cwd=work,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    except subprocess.TimeoutExpired as exc:
        return Ran(None, str(exc.stdout or ""), str(exc.stderr or ""), time.monotonic() - started)


def _outcome(case: Case, ran: Ran, deadline: float, lost: bool = False, shown_ok: bool = True) -> Outcome:
    """What the campaign records of a run: its code and time, and whether a traceback or a secret showed."""
    leaked = any(secret in ran.output for secret in SECRETS)
    return Outcome(
        case, ran.code, ran.seconds, deadline, "Traceback" in ran.output, leaked, ran.stderr, lost, shown_ok
    )


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
    redirected = [
        ("prometheus", "capture-infra"),
        ("alertmanager", "alert"),
        ("pushgateway", "capture-infra"),
        ("mlflow", "check"),
    ]
    for code in REDIRECT_CODES:
        behaviour = Behaviour("normal", code, b"", (("Location", ELSEWHERE),))
        for upstream, command in redirected:
            name = f"{upstream}/redirect-{code}/{command}"
            out.append(Case(name, upstream, command, behaviour, expect=3, names="127.0.0.1:9/landing"))
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
        ran = _run_mlprom(args, deadline, work)
    return _outcome(case, ran, deadline)


# ---------------------------------------------------------------- operators' hands: files, locks, output


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    here = os.getcwd()
    os.chdir(path.parent)  # a relative name: AF_UNIX paths are limited to 108 bytes
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


HOSTILE_FILES: dict[str, Callable[[Path], None]] = {"fifo": _fifo, "socket": _socket, "dev-zero": _dev_zero}

HUGE_EVENT = (
    f'{{"ts":"{DAY}T10:30:00.000Z","model":"m","prediction_time_seconds":1e308,"slow":true,"rows":1,'
    '"accuracy":1e308,"loss":-1e308,"metrics":{"f1":1e308},"outputs":[1e308,1e308,-1e308]}\n'
)


def _odd_times(event: str) -> str:
    return "".join(
        event.replace(f"{DAY}T10:30:00.000Z", ts)
        for ts in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z")
    )


def _spoil_store(data: Path, mode: str) -> None:
    """The store as it really is: what others' hands, full disks and racing jobs leave in it."""
    partition = next((data / "model").glob(f"dt={DAY}/model=*"))
    infra = data / "infra" / f"dt={DAY}"
    if mode == "huge-values":
        (partition / "103000-aaaaaaaaaaaaaaaa.jsonl").write_text(HUGE_EVENT * 40)
        (infra / "103000-aaaaaaaaaaaaaaaa.json").write_text(
            f'{{"ts":"{DAY}T10:30:00Z","source":"x","queries":{{"cpu_usage":{{"expr":"x",'
            '"result_type":"vector","series":[{"labels":{},"value":1e308}],"error":null}}}'
        )
    elif mode == "odd-times":
        (partition / "103000-bbbbbbbbbbbbbbbb.jsonl").write_text(_odd_times(HUGE_EVENT))
    elif mode in ("partition-loop", "partition-file"):
        for path in partition.iterdir():
            path.unlink()
        partition.rmdir()
        if mode == "partition-loop":
            partition.symlink_to(partition.name)
        else:
            partition.write_text("a file where the partition was")
    elif mode == "snapshot-over-cap":
        with (infra / "103000-cccccccccccccccc.json").open("wb") as handle:
            handle.truncate(300 * 1024 * 1024)  # sparse, past the 256 MiB cap
    elif mode == "object-loop":
        (partition / "103000-dddddddddddddddd.jsonl").symlink_to("103000-dddddddddddddddd.jsonl")
    elif mode == "long-line":
        (partition / "103000-eeeeeeeeeeeeeeee.jsonl.gz").write_bytes(_gzipped(b'{"ts":"', b"x", 200, b'"}\n'))
    elif mode == "random-bytes":
        (partition / "103000-ffffffffffffffff.jsonl").write_bytes(random.Random(1).randbytes(4096))
    elif mode == "gzip-bomb":
        (partition / "103000-1111111111111111.jsonl.gz").write_bytes(_gzipped(b"", b"\0", 300, b""))


def _gzipped(head: bytes, fill: bytes, mebibytes: int, tail: bytes) -> bytes:
    """head, `mebibytes` MiB of `fill`, tail, gzipped as a stream: a few hundred KB on disk."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = fill * (1 << 20)
    parts = [packer.compress(head), *(packer.compress(block) for _ in range(mebibytes))]
    return b"".join([*parts, packer.compress(tail), packer.flush()])


STORED_SECONDS = 15.0
# (mode, expected exit, what the message must name): docs/reliability.md, "Stored data"
STORED_CASES = (
    ("huge-values", 0, ""),
    ("odd-times", 0, "stamped outside its date"),
    ("partition-loop", 3, "cannot list"),
    ("partition-file", 3, "cannot list"),
    ("snapshot-over-cap", 3, "103000-cccccccccccccccc.json"),
    ("object-loop", 0, "103000-dddddddddddddddd.jsonl"),
    ("long-line", 0, "longer than"),
    ("random-bytes", 0, "more bad line(s)"),
    ("gzip-bomb", 0, "once decompressed"),
)


# ---------------------------------------------------------------- what a person reads, and alert identity

# A label value with a right-to-left override, an ESC sequence, a BEL and a newline: what reaches the
# output must show them as escapes, never raw (a terminal would act on them, a reader be misled).
HOSTILE_LABEL = "host\u202ea\x1b[31m\x07\nb:9100"
RAW = ("\u202e", "\x1b", "\x07")
# (mode, command line after -c CONFIG, expected exit, what stderr must name)
SHOWN_CASES: tuple[tuple[str, tuple[str, ...], int, str], ...] = (
    ("bidi-label-json", ("-o", "json", "alert", "--date", DAY, "--dry-run"), 0, ""),
    ("bidi-label-markdown", ("-o", "markdown", "alert", "--date", DAY, "--dry-run"), 0, ""),
    ("bidi-label-table", ("alert", "--date", DAY, "--dry-run"), 0, ""),
    ("bidi-label-html", ("-o", "html", "report", "--date", DAY, "--out", "page.html"), 0, ""),
    ("runbook-javascript", ("alert", "--date", DAY, "--dry-run"), 2, "alertmanager.runbook_url"),
    ("series-name", ("-o", "json", "alert", "--date", DAY, "--dry-run"), 0, ""),
    ("clock-ahead", ("prune", "--keep-days", "30", "--yes"), 0, "is the clock ahead"),
)
CLOCK_AHEAD_DAYS = 400


def _seed_shown(config: Path, document: dict[str, Any], data: Path, mode: str) -> None:
    """The store and config a "shown" case starts from."""
    from tests.faults.harness import seed_report

    if mode.startswith("bidi-label"):
        seed_report(config, [{"instance": HOSTILE_LABEL}, {"instance": "a:9100"}])
    elif mode == "series-name":
        seed_report(
            config,
            [
                {"__name__": "node_disk_read_bytes_total", "instance": "a:9100"},
                {"__name__": "node_disk_written_bytes_total", "instance": "a:9100"},
            ],
        )
    elif mode == "runbook-javascript":
        seed_report(config, [{"instance": "a:9100"}])
        document["alertmanager"]["runbook_url"] = "javascript:alert(1)"
        config.write_text(yaml.safe_dump(document))
    elif mode == "clock-ahead":
        # What a clock 400 days ahead does to prune, seen from a right clock: every partition's objects
        # were written 400 days ago (the store's newest write), the newest partitions dated that day. With
        # --keep-days 30, the 30 days before the newest write must stay, whatever today says.
        from datetime import date, timedelta

        written = date.today() - timedelta(days=CLOCK_AHEAD_DAYS)
        for age in range(30):
            day = (written - timedelta(days=age)).isoformat()
            for stage, name in (
                ("model", "model=m/100000-aaaaaaaaaaaaaaaa.jsonl"),
                ("infra", "100000-a.json"),
            ):
                path = data / stage / f"dt={day}" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}\n")
        stamp = time.time() - CLOCK_AHEAD_DAYS * 86400
        for path in data.rglob("*"):
            os.utime(path, (stamp, stamp))


def _shown_ok(mode: str, work: Path, stdout: str) -> bool:
    """The case's own check of what the run printed (or wrote to --out)."""
    if mode.startswith("bidi-label"):
        shown = (work / "page.html").read_text(errors="replace") if mode.endswith("html") else stdout
        # The value is there, escaped (\u202e in JSON, a visible escape elsewhere), and nothing raw.
        return "host" in shown and "b:9100" in shown and not any(raw in shown for raw in RAW)
    if mode == "series-name":
        alerts = json.loads(stdout).get("payload", [])  # --dry-run: what would be POSTed
        names = {a.get("labels", {}).get("series_name") for a in alerts}
        return names == {"node_disk_read_bytes_total", "node_disk_written_bytes_total"}
    return True


def shown_cases() -> list[Case]:
    return [
        Case(
            f"shown/{mode}/{argv[argv.index('--date') - 1] if '--date' in argv else argv[0]}",
            "shown",
            " ".join(argv),
            None,
            mode,
            code,
            names,
        )
        for mode, argv, code, names in SHOWN_CASES
    ]


def hands_cases() -> list[Case]:
    """Local cases: (name, kind in `upstream`, variant in `mode`), each with its expected exit code."""
    out: list[Case] = []
    for variant in HOSTILE_FILES:
        out.append(Case(f"config/{variant}/rules", "config", "rules", None, variant, 2, "not a regular file"))
        out.append(
            Case(
                f"token/{variant}/capture-infra", "token", "capture-infra", None, variant, 2, "not a regular"
            )
        )
        out.append(Case(f"event/{variant}/correlate", "event", "correlate", None, variant, 0, "skipping"))
    out.append(Case("report/dev-zero/report", "report", "report", None, "dev-zero", 3, "not a stored object"))
    out.append(Case("lock/held/alert", "lock", "alert", None, "held", 3, "is held by another process"))
    for variant, code, names in (
        ("fifo-unread", 2, "no process is reading"),
        ("symlink-to-file", 2, "is a symbolic link"),
        ("dangling-symlink", 2, "is a symbolic link"),
        ("socket", 2, "is a socket"),
        ("directory", 2, "is a directory"),
        ("symlink-to-dev-null", 0, ""),
    ):
        out.append(Case(f"out/{variant}/report", "out", "report", None, variant, code, names))
    for variant in ("repeated-token", "endless"):
        out.append(Case(f"s3-list/{variant}/correlate", "s3-list", "correlate", None, variant, 3, "listing"))
    for variant, code, names in STORED_CASES:
        out.append(Case(f"stored/{variant}/correlate", "stored", "correlate", None, variant, code, names))
    return out


def _hands_deadline(case: Case) -> float:
    if case.upstream == "lock":
        return TIMEOUT + TIMEOUT  # the POST, then the wait for the lock (storage.timeout)
    if case.upstream == "s3-list":
        return LIST_TIMEOUTS * TIMEOUT + TIMEOUT  # the listing's budget, plus its last page
    if case.upstream == "stored":
        # No upstream: the run's time is local work (inflating 200-300 MB of gzip), bounded by the object
        # cap and the machine's speed rather than a timeout.
        return STORED_SECONDS
    return TIMEOUT


def _stored(root: Path) -> dict[str, str]:
    """Digest of every regular file under the store: what a run must not lose (past 64 MiB, the size
    and the modification time: the sparse over-cap objects are 300 MB of nothing)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")) if root.exists() else ():
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            if info.st_size > 64 << 20:
                out[str(path.relative_to(root))] = f"{info.st_size}:{info.st_mtime_ns}"
            else:
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _lost(before: dict[str, str], after: dict[str, str]) -> bool:
    """An object gone, or an event or snapshot changed (reports and state may be rewritten by a re-run)."""
    return any(
        key not in after or (key.startswith(("model/", "infra/")) and after[key] != digest)
        for key, digest in before.items()
    )


def run_hands_case(case: Case, workdir: Path) -> Outcome:
    from tests.faults.harness import seed_report

    work = Path(tempfile.mkdtemp(dir=workdir))
    data = work / "data"
    config = work / "mlprom.yaml"
    document: dict[str, Any] = {
        "storage": {"url": str(data), "timeout": f"{TIMEOUT:g}s"},
        "correlate": {"infra_source": "snapshots"},
        "alertmanager": {"urls": ["http://127.0.0.1:9"], "timeout": f"{TIMEOUT:g}s"},
        "model": {"name": "m"},
        "queries": {"cpu_usage": "cpu_usage_expr"},
        "thresholds": {"cpu_usage": 0.9},
    }
    config.write_text(yaml.safe_dump(document))
    if case.upstream == "input":
        return run_input_case(case, work, config, document)
    if case.upstream in ("event", "report", "lock", "out", "stored"):
        seed_report(config, [{"instance": "a:9100"}])
    if case.upstream == "shown":
        _seed_shown(config, document, data, case.mode)
        (argv,) = [a for m, a, _, _ in SHOWN_CASES if m == case.mode]
        return _finish_hands_case(case, work, data, ["-c", str(config), *argv], TIMEOUT)
    args = ["-c", str(config), case.command]
    if case.command in ("correlate", "report", "alert"):
        args += ["--date", DAY]
    if case.command == "correlate":
        args += ["--fail-on", "never"]
    with contextlib.ExitStack() as stack:
        if case.upstream == "config":
            hostile = work / "hostile.yaml"
            HOSTILE_FILES[case.mode](hostile)
            args = ["-c", str(hostile), "rules"]
        elif case.upstream == "token":
            HOSTILE_FILES[case.mode](work / "token")
            document["prometheus"] = {"url": "http://127.0.0.1:9", "bearer_token_file": str(work / "token")}
            config.write_text(yaml.safe_dump(document))
        elif case.upstream == "event":
            partition = next((data / "model").glob(f"dt={DAY}/model=*"))
            HOSTILE_FILES[case.mode](partition / "235959-hostile.jsonl")
        elif case.upstream == "stored":
            _spoil_store(data, case.mode)
        elif case.upstream == "report":
            (stored,) = (data / "reports").rglob("correlation.json")
            stored.unlink()
            _dev_zero(stored)
        elif case.upstream == "lock":
            alertmanager = stack.enter_context(running_hostile_server(Behaviour("alertmanager")))
            document["alertmanager"]["urls"] = [alertmanager.url]
            config.write_text(yaml.safe_dump(document))
            # The model's alert state (alerts/model=NAME/state.json) and its lock beside it.
            lock = data / "alerts" / f"model={document['model']['name']}" / ".lock-state.json"
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)  # another process's lock, held for the whole run
        elif case.upstream == "out":
            target = work / "out"
            if case.mode == "fifo-unread":
                os.mkfifo(target)
            elif case.mode == "symlink-to-file":
                (work / "someone-elses").write_text("keep me")
                target.symlink_to(work / "someone-elses")
            elif case.mode == "dangling-symlink":
                target.symlink_to(work / "nothing")
            elif case.mode == "socket":
                _socket(target)
            elif case.mode == "directory":
                target.mkdir()
            else:
                target.symlink_to("/dev/null")
            args += ["--out", str(target)]
        elif case.upstream == "s3-list":
            tokens: Callable[[int], str] = (
                (lambda page: "same") if case.mode == "repeated-token" else (lambda page: f"t{page}")
            )
            paging = stack.enter_context(running_paging_s3(tokens))
            document["storage"] = {
                "url": "s3://bucket/root",
                "endpoint_url": paging.url,
                "region": "us-east-1",
                "timeout": f"{TIMEOUT:g}s",
            }
            config.write_text(yaml.safe_dump(document))
        before = _stored(data)
        deadline = _hands_deadline(case)
        ran = _run_mlprom(args, deadline, work)
    lost = _lost(before, _stored(data))
    if case.mode == "symlink-to-file":
        lost = lost or (work / "someone-elses").read_text() != "keep me" or not (work / "out").is_symlink()
    return _outcome(case, ran, deadline, lost)


def _finish_hands_case(case: Case, work: Path, data: Path, args: list[str], deadline: float) -> Outcome:
    """Run a "shown" case: mlprom with `args` in `work`, then the case's own check of its output."""
    before = _stored(data)
    ran = _run_mlprom(args, deadline, work)
    try:
        shown = ran.code == case.expect and _shown_ok(case.mode, work, ran.stdout)
    except (OSError, ValueError):  # no page written, stdout not JSON: the check failed
        shown = False
    return _outcome(case, ran, deadline, _lost(before, _stored(data)), shown)


# ---------------------------------------------------------------- input: a wide CSV, a full disk, ranges

WIDE_COLUMNS = 10_000  # bench/csv_wide.py: 1.3 s to read at 10,000 columns, 20.6 s before the fix
WIDE_ROWS = 100
# No upstream: its time is local work (MLflow's import and a run in a local database, about 2.5 s on a
# quiet machine, then 1.3 s of reading), bounded by the machine's speed rather than a timeout, like
# STORED_SECONDS. Before the frame was built per dtype, the reading alone took 20.6 s.
INPUT_SECONDS = 15.0
PREV_DAY = "2026-11-19"
# An archive across midnight: two range objects, infra/dt=PREV_DAY/... and infra/dt=DAY/....
RANGE_FROM, RANGE_TO, RANGE_STEP = f"{PREV_DAY}T23:30:00Z", f"{DAY}T00:30:00Z", 60.0
# (mode, command, expected exit, what stderr must name): docs/reliability.md, "Fault campaign"
INPUT_CASES: tuple[tuple[str, str, int, str], ...] = (
    ("wide-csv", "capture-model", 0, ""),
    ("wide-csv-ragged", "capture-model", 2, f"expected {WIDE_COLUMNS} fields as in the header"),
    ("state-disk-full", "alert", 3, "could not be written"),
    ("range-values-null", "capture-infra", 0, "'t' and 'v' are not lists of one length"),
    ("range-times-1e300", "capture-infra", 0, "time 1e+300 is not a finite time inside the range"),
    ("range-times-minus-1e300", "capture-infra", 0, "time -1e+300 is not a finite time inside the range"),
    ("range-truncated", "capture-infra", 0, "not valid JSON"),
)


def input_cases() -> list[Case]:
    return [
        Case(f"input/{mode}/{command}", "input", command, None, mode, code, names)
        for mode, command, code, names in INPUT_CASES
    ]


def _write_wide_csv(path: Path, ragged: bool) -> None:
    """x1, x2 (what the test model reads), then columns of integers and text with blanks; `ragged`: the
    last row one field short."""
    with path.open("w") as out:
        out.write(",".join(["x1", "x2", *(f"c{j}" for j in range(WIDE_COLUMNS - 2))]) + "\n")
        for i in range(WIDE_ROWS):
            cells = [str(0.9 * (i % 2)), "0.2"]
            cells += [str(i * j) if j % 3 else ("" if i % 2 else "t") for j in range(WIDE_COLUMNS - 2)]
            if ragged and i == WIDE_ROWS - 1:
                cells.pop()
            out.write(",".join(cells) + "\n")


_TEMPLATE_LOCK = threading.Lock()


def _mlflow_database(workdir: Path) -> Path:
    """An MLflow tracking database with its tables made (by one small capture-model run, once per
    campaign): copied into a wide case's directory, so its time is the CSV's, not MLflow creating its
    tables (about 3 s of a shared machine's disk)."""
    template = workdir / "mlflow-template"
    with _TEMPLATE_LOCK:
        if not (template / "mlflow.db").is_file():
            template.mkdir(exist_ok=True)
            (template / "mlprom.yaml").write_text(yaml.safe_dump({"storage": {"url": "data"}}))
            (template / "in.csv").write_text("x1,x2\n0.1,0.2\n")
            args = ["-c", "mlprom.yaml", "-q", "capture-model", "--input", "in.csv", "--model", MODEL]
            _run_mlprom(args, INPUT_SECONDS, template)
    return template / "mlflow.db"


def _range_pieces() -> list[float]:
    """The start of each day's piece of RANGE_FROM..RANGE_TO (what capture-infra asks Prometheus)."""
    from datetime import datetime

    start = datetime.fromisoformat(RANGE_FROM).timestamp()
    midnight = datetime.fromisoformat(f"{DAY}T00:00:00+00:00").timestamp()
    return [start, midnight]


def _matrix(start: float) -> Behaviour:
    values = [[start, "0.5"], [start + RANGE_STEP, "0.75"]]
    result = [{"metric": {"instance": "a:9100"}, "values": values}]
    return ok({"status": "success", "data": {"resultType": "matrix", "result": result}})


def _spoil_range(path: Path, mode: str) -> None:
    """An archived range as a disk, an older mlprom or a killed writer may have left it."""
    good = path.read_bytes()
    if mode == "range-truncated":
        path.write_bytes(good[: len(good) // 2])
        return
    document = json.loads(good)
    series = document["series"][0]
    if mode == "range-values-null":
        series["v"] = None
    else:
        series["t"][-1] = 1e300 if mode == "range-times-1e300" else -1e300
    path.write_text(json.dumps(document))


def run_input_case(case: Case, work: Path, config: Path, document: dict[str, Any]) -> Outcome:
    """What a run is given and what it stores: each case starts from a healthy run (for state and
    ranges), spoils one thing, runs again and checks the result and the store."""
    from tests.faults.harness import seed_report

    data = work / "data"
    if case.command == "capture-model":
        with contextlib.suppress(OSError):  # without it, MLflow makes its tables in the run
            shutil.copyfile(_mlflow_database(work.parent), work / "mlflow.db")
        source = work / "wide.csv"
        _write_wide_csv(source, ragged=case.mode == "wide-csv-ragged")
        model = ["--model", MODEL, "--batch-size", "50", "--sample-rate", "1", "--date", DAY]
        args = ["-c", str(config), "-o", "json", "capture-model", "--input", str(source), *model]
        ran = _run_mlprom(args, INPUT_SECONDS, work)
        checked = True
        if ran.code == 0:
            # Every row read and predicted, its events stored (a wide batch is not dropped).
            try:
                result = json.loads(ran.stdout)
                checked = (result["rows"], result["batches"], result["events"]) == (WIDE_ROWS, 2, 2)
            except (ValueError, KeyError):
                checked = False
        return _outcome(case, ran, INPUT_SECONDS, False, checked)

    with contextlib.ExitStack() as stack:
        if case.command == "alert":
            alertmanager = stack.enter_context(running_hostile_server(Behaviour("alertmanager")))
            document["alertmanager"]["urls"] = [alertmanager.url]
            config.write_text(yaml.safe_dump(document))
            # The state as yesterday's run left it (a:9100 firing), then today's report (b:9100).
            seed_report(config, [{"instance": "a:9100"}], day=PREV_DAY)
            first = _run_mlprom(["-c", str(config), "alert", "--date", PREV_DAY], 2 * TIMEOUT, work)
            seed_report(config, [{"instance": "b:9100"}])
            if first.code != 0 or not (data / "alerts" / "model=m" / "state.json").is_file():
                return _outcome(case, first, 2 * TIMEOUT, False, False)  # no state to start from
            before, taken = _stored(data), len(alertmanager.accepted)
            deadline = TIMEOUT + TIMEOUT  # the POST, then the state's lock (storage.timeout)
            ran = _run_mlprom(["-c", str(config), "alert", "--date", DAY], deadline, work, disk_full=True)
            after = _stored(data)
            # One line says both: the alerts reached Alertmanager, the state was not written.
            said = any(
                "Alertmanager accepted" in line and case.names in line for line in ran.stderr.splitlines()
            )
            kept = after.get("alerts/model=m/state.json") == before["alerts/model=m/state.json"]
            litter = [k for k in after if Path(k).name.startswith(".tmp-")]
            checked = said and kept and not litter and len(alertmanager.accepted) > taken
            return _outcome(case, ran, deadline, _lost(before, after) or not kept, checked)

        prometheus = stack.enter_context(running_hostile_server(ok({"status": "error"}, 400)))
        prometheus.body_rules = [(f"start={a:.3f}".encode(), _matrix(a)) for a in _range_pieces()]
        document["prometheus"] = {"url": prometheus.url, "timeout": f"{TIMEOUT:g}s"}
        config.write_text(yaml.safe_dump(document))
        archive = ["-c", str(config), "-o", "json", "capture-infra", "--from", RANGE_FROM, "--to", RANGE_TO]
        archive += ["--step", f"{RANGE_STEP:g}s"]
        deadline = TIMEOUT + TIMEOUT  # the queries (concurrently), then the writes
        first = _run_mlprom(archive, deadline, work)
        stored = sorted(str(p.relative_to(data)) for p in data.rglob("range-*.json"))
        if first.code != 0 or len(stored) != 2:
            return _outcome(case, first, deadline, False, False)  # no archive to start from
        spoiled = next(k for k in stored if f"dt={DAY}" in k)
        good = json.loads((data / spoiled).read_bytes())
        _spoil_range(data / spoiled, case.mode)
        before = _stored(data)
        ran = _run_mlprom(archive, deadline, work)
        after = _stored(data)
    # Replaced (and listed as repaired, not as existing), the other day's object left as it was, nothing
    # else in the store changed or added.
    try:
        result = json.loads(ran.stdout)
        listed = (result["repaired"], result["stored"]) == ([spoiled], [])
        listed = listed and spoiled not in result["existing"]
        repaired = json.loads((data / spoiled).read_bytes()) == good
    except (OSError, ValueError, KeyError):
        listed = repaired = False
    after.pop(spoiled, None)
    before.pop(spoiled)
    return _outcome(case, ran, deadline, after != before, listed and repaired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=60, help="generated cases beyond the fixed matrix")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print every case")
    parser.add_argument(
        "--only",
        choices=("all", "hands", "stored", "shown", "input"),
        default="all",
        help="hands: redirects and the local classes only; stored: the odd stored objects only; "
        "shown: what a person reads (bidi and controls, runbook_url), alert identity, a clock ahead; "
        "input: a wide CSV, a disk full after Alertmanager took the alerts, invalid archived ranges",
    )
    args = parser.parse_args()

    campaign = cases(args.variants, args.seed)
    if args.only == "hands":
        campaign = [c for c in campaign if "/redirect-" in c.name]
        args.variants = 0
    local = hands_cases() + shown_cases() + input_cases()
    if args.only in ("stored", "shown", "input"):
        campaign, args.variants = [], 0
        local = [c for c in local if c.upstream == args.only]
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
                outcomes += list(pool.map(lambda c: run_hands_case(c, workdir), local))
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
    if args.only != "all":
        command = f"python bench/fault_campaign.py --only {args.only} --workers {args.workers}"
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
    expected = [o for o in outcomes if o.case.expect is not None]
    unhandled = [o for o in expected if not o.handled]
    lost = [o for o in outcomes if o.lost]
    print(
        f"- cases with an expected outcome (redirects, files, locks, output, listings): {len(expected)}; "
        f"handled (exit code, culprit named, nothing stored lost): {len(expected) - len(unhandled)}; "
        f"stored data lost: {len(lost)} (goal 0)"
    )
    print(
        f"- bounded (ended by the deadline + {MARGIN:g} s start-up): {len(outcomes) - len(hangs)} of "
        f"{len(outcomes)}"
    )
    slowest = max(expected, key=lambda o: o.seconds - o.deadline) if expected else None
    if slowest is not None:
        print(
            f"- of those, the longest past its deadline: {slowest.case.name} {slowest.seconds:.2f} s for a "
            f"{slowest.deadline:g} s deadline"
        )
    print(
        f"- longest run past its deadline: {worst.case.name} {worst.seconds:.2f} s for a {worst.deadline:g} s"
        f" deadline (start-up included); wall time {wall:.0f} s with {args.workers} workers"
    )
    troubles = (
        ("hang", hangs),
        ("traceback", tracebacks),
        ("leak", leaks),
        ("exit code", outside),
        ("unhandled", unhandled),
    )
    for label, bad in troubles:
        for o in bad:
            print(f"  {label}: {o.case.name} exit={o.exit_code}: {o.stderr.strip()[-400:]}")
    if hangs or tracebacks or leaks or outside or unhandled:
        sys.exit(1)


if __name__ == "__main__":
    main()
