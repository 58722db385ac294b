"""Every command in a ```sh block of README.md and docs/*.md runs, as shown, against the test stack.

Every Markdown file there is read, so a new page is covered as soon as it exists. A file's commands run in
order, in one sandbox of their own: a temp working directory whose config ($MLPROM_CONFIG) points at the
session's Prometheus, Alertmanager, Pushgateway, moto S3 and a sqlite MLflow store; data for today,
yesterday and every --date the docs name; a registered model `churn` with the alias `champion`; and the
files the examples read. The few literal values a sandbox cannot reproduce are substituted (the sandbox's
`substitutions`, each with its reason); scripts/quickstart.sh runs with MLPROM_SKIP_INSTALL=1 (this
interpreter's mlprom; installing is scripts/install.sh's job, which CI runs first). `bash scripts/test.sh`
is the one command not run (NOT_RUN). Every command must exit 0; stdin is a terminal answering "n".

Fences say what a block is: ```sh is run here; ```yaml is checked as an mlprom config, a Prometheus rule
file (promtool) or an Alertmanager config (amtool); ```text, ```cron, ```json, ```sql, ```python are shown
as they are (the DuckDB queries have their own tests). A fence without a language is an error.
"""

from __future__ import annotations

import gzip
import json
import os
import pty
import random
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.servers import PrometheusStack, Server, require_binary, s3_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
DATE_FLAG = re.compile(r"--date[ =](\d{4}-\d{2}-\d{2})")
AT_FLAG = re.compile(r"--at[ =]\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# Commands shown in the docs that this test does not run, and why. Kept honest below: each must still be
# in the docs, and nothing else is exempt.
NOT_RUN = {
    "bash scripts/test.sh": "it is this test suite (CI runs it as its own job)",
    "bash scripts/quickstart.sh": "test_the_quickstart_* run it once and check what it found (three minutes)",
}
MLPROM_SECTIONS = {
    "storage",
    "prometheus",
    "alertmanager",
    "pushgateway",
    "mlflow",
    "model",
    "correlate",
    "drift",
    "queries",
    "thresholds",
    "models",
}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the block's first content line
    lang: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    where: str
    text: str


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start(2)) + 1
        found.append(Block(path, line, match.group(1).strip(), match.group(2)))
    return found


def commands(path: Path) -> list[Command]:
    """The commands of a file's ```sh blocks: continuation lines joined, comment and blank lines left out."""
    out: list[Command] = []
    for block in blocks(path):
        if block.lang != "sh":
            continue
        pending, first = "", 0
        for offset, raw in enumerate(block.body.splitlines()):
            if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
                continue
            if not pending:
                first = block.line + offset
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            out.append(Command(f"{path.relative_to(ROOT)}:{first}", pending + raw))
            pending = ""
    return out


def docs_with_commands() -> list[Path]:
    return [p for p in DOCS if commands(p)]


def doc_dates() -> set[date]:
    return {date.fromisoformat(d) for p in DOCS for d in DATE_FLAG.findall(p.read_text(encoding="utf-8"))}


# ---------------------------------------------------------------- the sandbox


@dataclass
class Sandbox:
    root: Path
    config: Path
    env: dict[str, str]
    substitutions: list[tuple[str | re.Pattern[str], str, str]]  # (literal or pattern, replacement, why)

    def prepare(self, command: str) -> str:
        for pattern, replacement, _why in self.substitutions:
            if isinstance(pattern, str):
                command = command.replace(pattern, replacement)
            else:
                command = pattern.sub(replacement, command)
        return command


REGISTER = """
import sys

import mlflow
import mlflow.pyfunc

from tests.fixtures.mlflow_server import _pyfunc_class

mlflow.pyfunc.log_model(
    name="model", python_model=_pyfunc_class()(), registered_model_name="churn", pip_requirements=["mlflow"]
)
mlflow.MlflowClient().set_registered_model_alias("churn", "champion", "1")
"""


@pytest.fixture(scope="session")
def registered_churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sqlite MLflow store holding the model `churn`, version 1 with alias `champion` (artifacts beside it)."""
    store = tmp_path_factory.mktemp("doc-mlflow")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", REGISTER], cwd=store, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return store / "mlflow.db"


@pytest.fixture(scope="session")
def doc_bucket(moto_s3: str) -> str:
    """s3://bucket/today.csv, the input the README's capture-model example reads."""
    client = s3_client(moto_s3)
    try:
        client.create_bucket(Bucket="bucket")
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    rng = random.Random(3)
    rows = ["x1,x2,churned"] + [
        f"{(a := rng.random()):.3f},{(b := rng.random()):.3f},{int(a + b > 1)}" for _ in range(300)
    ]
    client.put_object(Bucket="bucket", Key="today.csv", Body=("\n".join(rows) + "\n").encode())
    return "bucket"


def _seed_day(data: Path, day: date, model: str) -> None:
    """A quiet day: an hour of snapshots and events, nothing near a threshold."""
    from mlprom.events.log import write_events, write_snapshot
    from mlprom.records import Event, QueryResult, Series, Snapshot
    from mlprom.storage.local import LocalStorage

    storage = LocalStorage(data)
    start = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    rng = random.Random(day.toordinal())
    for minute in range(0, 60, 5):
        at = start + timedelta(minutes=minute)
        queries = {
            "cpu_usage": QueryResult(
                "cpu", "vector", (Series({"instance": "host-a:9100"}, rng.uniform(0.1, 0.3)),)
            ),
            "memory_usage": QueryResult(
                "mem", "vector", (Series({"instance": "host-a:9100"}, rng.uniform(30, 40)),)
            ),
        }
        write_snapshot(storage, Snapshot(at, "http://prometheus.test", queries))
    events = [
        Event(start + timedelta(seconds=30 * i), model, rng.uniform(0.01, 0.05), False, 50, sampled=True)
        for i in range(120)
    ]
    write_events(storage, events)


def _files(root: Path) -> None:
    """The files the examples name: a module:attr model and a gzipped JSON Lines input."""
    package = root / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        "class Classifier:\n"
        "    def predict(self, X):\n"
        "        return [int(a + b > 1) for a, b in zip(X['x1'], X['x2'])]\n\n\n"
        "classifier = Classifier()\n"
    )
    rng = random.Random(5)
    lines = [json.dumps({"x1": round(rng.random(), 3), "x2": round(rng.random(), 3)}) for _ in range(1000)]
    (root / "requests.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


@pytest.fixture
def sandbox(
    tmp_path: Path,
    prometheus_stack: PrometheusStack,
    alertmanager: Server,
    moto_s3: str,
    doc_bucket: str,
    registered_churn: Path,
) -> Iterator[Sandbox]:
    root = tmp_path / "work"
    root.mkdir()
    shutil.copy(registered_churn, root / "mlflow.db")  # the artifacts stay where the session stored them
    config = {
        "storage": {"url": "./mlprom-data"},
        "prometheus": {"url": prometheus_stack.prometheus_url},
        "alertmanager": {"urls": [alertmanager.url]},
        "pushgateway": {"url": prometheus_stack.pushgateway_url},
        "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "experiment": "docs"},
        "model": {"name": f"docs-{uuid.uuid4().hex[:6]}", "latency_threshold": "2s"},
        # Exit 0 is the point of these commands, whatever load the machine is under: no threshold can fire.
        "thresholds": {"cpu_usage": {"critical": 2}, "memory_usage": {"critical": 101}},
        "drift": {"min_samples": 1_000_000_000},
    }
    config_path = root / "mlprom.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    today = datetime.now(UTC).date()
    for day in {today, today - timedelta(days=1), *doc_dates()}:
        _seed_day(root / "mlprom-data", day, config["model"]["name"])
    _files(root)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLPROM_CONFIG": str(config_path),
        "MLFLOW_TRACKING_URI": config["mlflow"]["tracking_uri"],
        "AWS_ENDPOINT_URL_S3": moto_s3,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MLPROM_SKIP_INSTALL": "1",  # scripts/quickstart.sh: use this interpreter's mlprom, install nothing
        "MLPROM_PYTHON": sys.executable,
        "COLUMNS": "160",
    }
    now = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    substitutions: list[tuple[str | re.Pattern[str], str, str]] = [
        (
            AT_FLAG,
            f"--at {now}",
            "an example time: the test stack's Prometheus only has data since it started",
        ),
        (
            "bash scripts/",
            f"bash {ROOT}/scripts/",
            "the docs run scripts from a checkout; the sandbox is elsewhere",
        ),
        ("/etc/mlprom.yaml", str(config_path), "the config of the examples is the sandbox's"),
        ("/etc/mlprom/churn.yaml", str(config_path), "the config of the examples is the sandbox's"),
        ("http://localhost:9090", prometheus_stack.prometheus_url, "the test stack's Prometheus"),
        ("http://localhost:9093", alertmanager.url, "the test stack's Alertmanager"),
        ("http://localhost:9091", prometheus_stack.pushgateway_url, "the test stack's Pushgateway"),
    ]
    yield Sandbox(root, config_path, env, substitutions)


# Lines that open a construct spanning several lines: such a block runs as one script.
MULTILINE = re.compile(r"<<|^\s*(for|while|until|if|case)\b|\bdo\s*$|\{\s*$|\\\s*$")
FAILED = "__doc_command_failed__"


def script(block: Block) -> str:
    """The block as a bash script that reports the block line of the command that failed.

    A block of one-line commands checks each command's exit code (an `a && b` whose `a` fails is a
    failure too); a block with loops, heredocs or continued lines runs with `set -e`.
    """
    lines = block.body.splitlines()
    if any(MULTILINE.search(line) for line in lines):
        # The trap's LINENO counts the two preamble lines; the report is the block's own line offset.
        preamble = ["set -eE -o pipefail", f"trap 'echo \"{FAILED} $((LINENO - 3)) $?\" >&2' ERR"]
        return "\n".join([*preamble, *lines]) + "\n"
    out = ["set -o pipefail"]
    for offset, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#") or line.strip() in NOT_RUN:
            continue
        out.append(line)
        out.append(f'rc=$?; if [ $rc -ne 0 ]; then echo "{FAILED} {offset} $rc" >&2; exit $rc; fi')
    return "\n".join(out) + "\n"


def run_block(sandbox: Sandbox, block: Block) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run one ```sh block in the sandbox; returns the process and the doc line that failed (or the block's)."""
    # stdin is a terminal, so a command that asks (prune without --yes) asks; it is answered "n".
    master, slave = pty.openpty()
    try:
        os.write(master, b"n\n" * 64)
        done = subprocess.run(
            ["bash", "-c", sandbox.prepare(script(block))],
            cwd=sandbox.root,
            env=sandbox.env,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    failed = re.search(rf"{FAILED} (\d+) (\d+)", done.stderr)
    return done, block.line + (int(failed.group(1)) if failed else 0)


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("doc", docs_with_commands(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_sh_command_of_the_page_exits_0(doc: Path, sandbox: Sandbox) -> None:
    require_binary("jq")  # the examples pipe JSON through it
    require_binary("promtool")
    for block in blocks(doc):
        if block.lang != "sh":
            continue
        done, line = run_block(sandbox, block)
        shown = block.body.splitlines()[min(line - block.line, len(block.body.splitlines()) - 1)].strip()
        assert done.returncode == 0, (
            f"{doc.relative_to(ROOT)}:{line}: `{shown}` exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )


# ---------------------------------------------------------------- the quickstart

# What the quickstart plants is CPU load; these are the default queries that measure it.
CPU_FAMILY = {"cpu_usage", "cpu_usage_short", "cpu_pressure", "procs_running", "system_load"}


@dataclass(frozen=True)
class Quickstart:
    stdout: str
    stderr: str
    report: dict[str, Any]


@pytest.fixture(scope="module")
def quickstart() -> Quickstart:
    """README's `bash scripts/quickstart.sh`, run once as shown (MLPROM_SKIP_INSTALL=1: this interpreter's
    mlprom), in the checkout's ./.quickstart; then the report it stored, read back with `mlprom report`."""
    from tests.fixtures.recent import clear_of_midnight

    require_binary("stress-ng")
    assert "bash scripts/quickstart.sh" in {c.text.strip() for c in commands(ROOT / "README.md")}
    clear_of_midnight(900)  # every command of the run files into one UTC date
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MLPROM_SKIP_INSTALL": "1",
        "MLPROM_PYTHON": sys.executable,
        "COLUMNS": "160",
    }
    for name in ("MLPROM_CONFIG", "MLFLOW_TRACKING_URI", "MLPROM_QUICKSTART_KEEP"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", "scripts/quickstart.sh"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    config = ROOT / ".quickstart" / "mlprom.yaml"
    stored = subprocess.run(
        [sys.executable, "-m", "mlprom", "-c", str(config), "-o", "json", "report", "--date", "today"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stored.returncode == 0, stored.stderr[-2000:]
    return Quickstart(done.stdout, done.stderr, json.loads(stored.stdout))


def _significant_infra(run: Quickstart) -> list[dict[str, Any]]:
    suspects = run.report["suspects"]
    assert isinstance(suspects, list)
    return [s for s in suspects if s["significant"] and s["kind"] == "infra"]


def _explain(run: Quickstart) -> str:
    """What a failure shows: the planted windows, the headline and the top suspects as stored."""
    shown = ("metric", "significant", "q_value", "p_value", "effect", "slow_snapshots", "baseline_snapshots")
    suspects = run.report["suspects"]
    assert isinstance(suspects, list)
    planted = [line for line in run.stderr.splitlines() if line.startswith("quickstart:")]
    return (
        f"{planted}\nheadline {run.report.get('headline')!r}, episodes {run.report.get('episodes')}, "
        f"significance {run.report.get('significance')}\ntop {[{k: s.get(k) for k in shown} for s in suspects[:5]]}"
    )


@pytest.mark.quiet_machine  # the quickstart plants a stress-ng incident
def test_the_quickstart_says_what_it_planted(quickstart: Quickstart) -> None:
    planted = re.findall(
        r"^quickstart: planted CPU incident (\d) of 3 at .*stress-ng --cpu 8", quickstart.stderr, re.M
    )
    assert planted == ["1", "2", "3"], quickstart.stderr[-3000:]


@pytest.mark.quiet_machine  # the quickstart plants a stress-ng incident
def test_the_quickstart_finds_the_cpu_incident_it_planted_significant(quickstart: Quickstart) -> None:
    found = _significant_infra(quickstart)
    assert found and found[0]["metric"] in CPU_FAMILY, _explain(quickstart)
    assert found[0] is quickstart.report["suspects"][0], _explain(quickstart)  # ranked first of all
    metric = str(found[0]["metric"])
    # correlate's own output names it: the headline (the table may wrap it: compared word by word), and the
    # table of significant suspects.
    headline = quickstart.report["headline"]
    assert f": {metric}{{" in headline and "rose at the same time" in headline, headline
    assert " ".join(headline.split()) in " ".join(quickstart.stdout.split()), quickstart.stdout[-3000:]
    table = quickstart.stdout.split("Significant suspects", 1)[1].split("\n\n", 1)[0]
    assert f"│ {metric} " in table, table
    assert f"the planted CPU incident was found: {metric} is the top significant suspect" in quickstart.stderr


@pytest.mark.quiet_machine  # the quickstart plants a stress-ng incident
def test_the_quickstart_alert_that_reached_alertmanager_names_the_suspect(quickstart: Quickstart) -> None:
    # The quickstart prints what Alertmanager holds: "STATE {labels}", then "  annotations {...}", per alert.
    lines = quickstart.stdout.splitlines()
    held = [
        (json.loads(line.split(" ", 1)[1]), json.loads(after.strip().split(" ", 1)[1]))
        for line, after in zip(lines, lines[1:], strict=False)
        if re.match(r"^[a-z]+ \{", line) and after.startswith("  annotations {")
    ]
    found = _significant_infra(quickstart)
    assert found, _explain(quickstart)
    metric = found[0]["metric"]
    latency = [(labels, notes) for labels, notes in held if labels.get("metric") == "prediction_time"]
    assert len(latency) == 1, held
    labels, notes = latency[0]
    assert labels.get("suspect") == metric, (labels, notes)
    assert metric in notes.get("suspects", ""), (labels, notes)


def test_the_only_commands_not_run_are_listed_with_a_reason_and_still_shown() -> None:
    shown = {c.text.strip() for p in DOCS for c in commands(p)}
    assert set(NOT_RUN) <= shown, f"exemptions no longer in the docs: {set(NOT_RUN) - shown}"
    assert len(shown) > 10


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fence_says_what_it_holds(doc: Path) -> None:
    unlabeled = [b.where for b in blocks(doc) if not b.lang]
    assert unlabeled == [], f"fences without a language (sh is run, text/cron/... are not): {unlabeled}"


def _yaml_blocks() -> list[Block]:
    return [b for p in DOCS for b in blocks(p) if b.lang == "yaml"]


@pytest.mark.parametrize("block", _yaml_blocks(), ids=lambda b: b.where)
def test_every_yaml_block_is_a_valid_config_rule_file_or_alertmanager_config(
    block: Block, tmp_path: Path
) -> None:
    from mlprom.config import load_config_text

    document = yaml.safe_load(block.body)
    assert isinstance(document, dict), f"{block.where}: not a YAML mapping"
    if "groups" in document:
        path = tmp_path / "rules.yml"
        path.write_text(block.body)
        done = subprocess.run(
            [require_binary("promtool"), "check", "rules", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{block.where}: promtool check rules:\n{done.stdout}{done.stderr}"
    elif {"route", "receivers", "inhibit_rules"} & set(document):
        path = tmp_path / "alertmanager.yml"
        path.write_text(block.body)
        done = subprocess.run(
            [require_binary("amtool"), "check-config", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{block.where}: amtool check-config:\n{done.stdout}{done.stderr}"
    else:
        assert set(document) <= MLPROM_SECTIONS, (
            f"{block.where}: neither an mlprom config, a rule file nor an Alertmanager config: "
            "fence it as text, or teach this test what it is"
        )
        load_config_text(block.body, block.where, env={"ALERTMANAGER_TOKEN": "x"})
