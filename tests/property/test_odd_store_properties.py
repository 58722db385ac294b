"""The store as it really is: generated odd objects (FIFOs, symlink loops and dangling links, a
directory or an over-cap sparse file where an object should be, a partition replaced by a file, odd
key names, a key whose name is not UTF-8, events stamped at the calendar's ends, huge finite numbers,
overlong lines) planted in a real local store next to good data, then the writers `correlate` and
`alert --dry-run` and the readers `report`, `profile` (a date range) and `prune --dry-run`: the exit
code is the contract's, no traceback, no internal error, no secret, every regular object stored before
is still there byte for byte, and the readers change nothing at all (prune --dry-run deletes nothing)."""

from __future__ import annotations

import copy
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.events.log import MAX_LINE_BYTES
from tests.property.strategies import CLOSED, SECRET, assert_contract, assert_kept, examples, near

DAY = "2026-11-20"
PARTITION = f"model/dt={DAY}/model=default"
INFRA = f"infra/dt={DAY}"
EVENT = {
    "ts": f"{DAY}T10:00:00.000Z",
    "model": "default",
    "prediction_time_seconds": 0.5,
    "slow": True,
    "rows": 3,
    "accuracy": 0.7,
    "outputs": [0.1, 0.9],
}
SERIES = {"labels": {"route": "/api/[/id]"}, "value": 0.93}
SNAPSHOT = {
    "ts": f"{DAY}T10:00:00Z",
    "source": "http://prom",
    "id": "a" * 16,
    "queries": {"cpu_usage": {"expr": "x", "result_type": "vector", "series": [SERIES], "error": None}},
}
ODD_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
    "1970-01-01T00:00:00Z",
    f"{DAY}T23:59:59.999+00:00",
    f"{DAY}T00:00:00-23:59",
]
LONG = b"<a line past MAX_LINE_BYTES>"
# Names a local store meets that are not UTF-8 (written by another tool, a Latin-1 locale): planted through
# bytes paths (os.fsencode), as Python shows them, with surrogate escapes.
NOT_UTF8_NAME = os.fsdecode(b"100000-\xff\xfe\xe9eeeeeeeeeeeee.jsonl")
NOT_UTF8_PARTITION = os.fsdecode(f"model/dt={DAY}/model=".encode() + b"caf\xe9")
HUGE = [1e308, -1e308, 1.7976931348623157e308, 5e-324, 2**63, 2**64 - 1]
ODD_NAMES = [
    "100000-aaaaaaaaaaaaaaaa.jsonl",
    "100000-aaaaaaaaaaaaaaaa.jsonl.gz",
    "ü 1\nx.jsonl",
    " .json",
    "[bold]x[/].jsonl",
    "100000-%s.json" % ("b" * 16),
    "latency.json",
    "000000-cccccccccccccccc.latency.json",
    ".lock-x.jsonl",
    "nested/100000-dddddddddddddddd.jsonl",
    NOT_UTF8_NAME,
]


@st.composite
def odd_events(draw: Any) -> dict[str, Any]:
    event = draw(near(EVENT))
    if draw(st.booleans()):
        event["ts"] = draw(st.sampled_from(ODD_TIMES))
    for field in draw(st.lists(st.sampled_from(["prediction_time_seconds", "accuracy", "loss"]), max_size=3)):
        event[field] = draw(st.sampled_from(HUGE))
    if draw(st.booleans()):
        event["outputs"] = draw(st.lists(st.sampled_from(HUGE), max_size=4))
        event["metrics"] = {"f1": draw(st.sampled_from(HUGE))}
    return event


@st.composite
def bodies(draw: Any, template: dict[str, Any]) -> bytes:
    if template is SNAPSHOT:
        document = draw(near(SNAPSHOT))
        if draw(st.booleans()):
            document["ts"] = draw(st.sampled_from(ODD_TIMES))
        if draw(st.booleans()):
            document["queries"] = {
                "cpu_usage": {
                    **SNAPSHOT["queries"]["cpu_usage"],
                    "series": [{"labels": {}, "value": draw(st.sampled_from(HUGE))}],
                }
            }
        return _dumps(document)
    lines = [_dumps(e) for e in draw(st.lists(odd_events(), min_size=1, max_size=6))]
    if draw(st.integers(0, 9)) == 0:
        lines.insert(1, LONG)  # made a line past the bound when planted (kept short in failure reports)
    if draw(st.booleans()):
        lines.append(draw(st.binary(max_size=64)))
    return b"\n".join(lines) + b"\n"


def _dumps(document: Any) -> bytes:
    try:
        return orjson.dumps(document)
    except TypeError:  # an integer past 64 bits: written as text, as another writer might
        return str(document).encode()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dangling(path: Path) -> None:
    path.symlink_to("nowhere")


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside.json").write_bytes(b"{}")


def _over_cap(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # sparse: no disk, but past the 256 MiB cap


SPECIALS: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "dangling": _dangling,
    "loop": _loop,
    "dev-zero": _dev_zero,
    "directory": _directory,
    "over-cap": _over_cap,
}


@st.composite
def plantings(draw: Any) -> list[tuple[str, str, Any]]:
    """(where, name, what): what is bytes (an object's body) or the name of a special file."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from([PARTITION, INFRA, NOT_UTF8_PARTITION]))
        name = draw(st.sampled_from(ODD_NAMES))
        if draw(st.integers(0, 2)) == 0:
            what: Any = draw(st.sampled_from(sorted(SPECIALS)))
        else:
            what = draw(bodies(SNAPSHOT if where == INFRA and draw(st.booleans()) else EVENT))
        out.append((where, name, what))
    return out


def _regular_objects(root: Path) -> dict[str, bytes]:
    """Every regular file (not through a symlink), as the store holds it; nothing else is opened."""
    out: dict[str, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_size <= 8 * 1024 * 1024:
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


def _entries(root: Path) -> set[str]:
    """Every name in the store, whatever it is (a FIFO, a link, a directory): what a delete would remove."""
    return {str(Path(d, n).relative_to(root)) for d, dirs, files in os.walk(root) for n in dirs + files}


def _plant(root: Path, plantings: list[tuple[str, str, Any]], spoil_partition: str) -> None:
    for where, name, what in plantings:
        path = root / where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(path):
            continue
        if isinstance(what, bytes):
            path.write_bytes(what.replace(LONG, b'{"ts": "' + b"x" * MAX_LINE_BYTES + b'"}'))
        else:
            SPECIALS[what](path)
    # Every example holds a good event under a name that is not UTF-8, in the partition and beside it.
    for where in (PARTITION, NOT_UTF8_PARTITION):
        directory = os.fsencode(root / where)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, os.fsencode(NOT_UTF8_NAME))
        if not os.path.lexists(path):
            with open(path, "wb") as handle:
                handle.write(orjson.dumps(EVENT) + b"\n")
    partition = root / PARTITION
    if spoil_partition == "file" and not os.path.lexists(partition):
        partition.parent.mkdir(parents=True, exist_ok=True)
        partition.write_bytes(b"a file where the partition should be")
    elif spoil_partition == "loop" and not os.path.lexists(partition):
        partition.parent.mkdir(parents=True, exist_ok=True)
        partition.symlink_to(partition.name)


REPORT_DATES = [DAY, "2026-11-19", "2026-11-14"]  # in the profile ranges below
REPORT_ODDITIES = ["near", "profile", "hours", "huge", "cut", "bytes", *sorted(SPECIALS)]


@st.composite
def odd_reports(draw: Any) -> list[tuple[str, bool, str]]:
    """(date, legacy layout, oddity): a stored report made odd after the writers ran, for the readers."""
    return draw(
        st.lists(
            st.tuples(st.sampled_from(REPORT_DATES), st.booleans(), st.sampled_from(REPORT_ODDITIES)),
            max_size=3,
            unique_by=lambda r: r[:2],
        )
    )


def _odd_report(data: Any, document: dict[str, Any], body: bytes, oddity: str) -> bytes:
    """The report correlate wrote, made odd: fields dropped or replaced, cut short, huge numbers."""
    document = copy.deepcopy(document)
    if oddity == "near":
        return _dumps(data.draw(near(document)))
    if oddity == "profile" and isinstance(document.get("profile"), dict):
        document["profile"] = data.draw(near(document["profile"]))
    elif oddity == "hours" and isinstance(document.get("profile"), dict):
        hours = document["profile"].get("hours") or [{}]
        document["profile"]["hours"] = [data.draw(near(hour)) for hour in hours[:3]] + hours[3:]
    elif oddity == "huge":
        for hour in (document.get("profile") or {}).get("hours") or []:
            hour["events"], hour["slow"], hour["p95"] = (data.draw(st.sampled_from(HUGE)) for _ in range(3))
    elif oddity == "cut":
        return body[: data.draw(st.integers(0, max(0, len(body) - 1)))]
    elif oddity == "bytes":
        return data.draw(st.binary(max_size=64))
    return _dumps(document)


def _plant_reports(root: Path, data: Any, reports: list[tuple[str, bool, str]]) -> None:
    written = root / f"reports/dt={DAY}/model=default/correlation.json"
    body = written.read_bytes() if written.is_file() and not written.is_symlink() else b"{}"
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = {}
    for day, legacy, oddity in reports:
        path = root / (
            f"reports/dt={day}/correlation.json"
            if legacy
            else f"reports/dt={day}/model=default/correlation.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            continue  # a directory planted where a report is: keep it
        if os.path.lexists(path):
            path.unlink()
        if oddity in SPECIALS:
            SPECIALS[oddity](path)
        else:
            path.write_bytes(_odd_report(data, {**document, "date": day}, body, oddity))


PROFILE_RANGES = [
    ["--from", DAY, "--to", DAY],
    ["--from", "2026-11-14", "--to", DAY],
    ["--to", DAY],
    ["--from", DAY, "--to", "2026-11-21", "--allow-empty"],
]


@settings(max_examples=examples(20))
@given(
    planted=plantings(),
    spoil_partition=st.sampled_from(["none", "none", "none", "file", "loop"]),
    fmt=st.sampled_from(["table", "json", "markdown"]),
    profile_range=st.sampled_from(PROFILE_RANGES),
    reports=odd_reports(),
    models=st.sampled_from([[], ["--all-models"]]),
    prune_stages=st.sampled_from([[], ["--stage", "model"], ["--stage", "infra", "--stage", "reports"]]),
    data=st.data(),
)
def test_readers_keep_the_contract_on_the_store_as_it_is(
    planted: list[tuple[str, str, Any]],
    spoil_partition: str,
    fmt: str,
    profile_range: list[str],
    reports: list[tuple[str, bool, str]],
    models: list[str],
    prune_stages: list[str],
    data: Any,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        good = f"{INFRA}/090000-{'5' * 16}.json"
        (root / INFRA).mkdir(parents=True)
        (root / good).write_bytes(orjson.dumps({**SNAPSHOT, "ts": f"{DAY}T09:00:00Z"}))
        _plant(root, planted, spoil_partition)
        if spoil_partition == "none" and not os.path.lexists(
            root / PARTITION / "080000-6666666666666666.jsonl"
        ):
            (root / PARTITION).mkdir(parents=True, exist_ok=True)
            (root / PARTITION / "080000-6666666666666666.jsonl").write_bytes(orjson.dumps(EVENT) + b"\n")
        config = Path(tmp) / "mlprom.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": str(root)},
                    "prometheus": {"url": f"http://admin:{SECRET}@{CLOSED}"},
                    "alertmanager": {"urls": [f"http://admin:{SECRET}@{CLOSED}"]},
                    "correlate": {"infra_source": "snapshots"},
                    "queries": {"cpu_usage": "x"},
                    "thresholds": {"cpu_usage": 0.5, "prediction_time": {"critical": 1.0}},
                    "drift": {"reference_days": 1},
                }
            )
        )
        before = _regular_objects(root)
        runner = CliRunner()

        def run(*args: str) -> None:
            result = runner.invoke(app, ["-c", str(config), "-o", fmt, *args])
            assert isinstance(result.exception, SystemExit) or result.exception is None, repr(
                result.exception
            )
            assert_contract(result.exit_code, result.output, allowed={0, 1, 3, 4})
            if fmt == "json" and result.exit_code in (0, 1):
                orjson.loads(result.stdout)

        for writer in (["correlate", "--fail-on", "warning"], ["alert", "--dry-run"]):
            run(*writer, "--date", DAY)
        replaced = {
            f"reports/dt={DAY}/model=default/correlation.json",
            f"reports/dt={DAY}/model=default/drift-sample.json",
        }
        assert_kept(before, _regular_objects(root), replaced)
        _plant_reports(root, data, reports)
        written, names = _regular_objects(root), _entries(root)
        run("report", "--date", DAY, *models)
        run("profile", *profile_range, *models)
        run("prune", "--keep-days", "1", "--dry-run", *prune_stages)
        assert _regular_objects(root) == written  # the readers stored nothing, changed and deleted nothing
        assert _entries(root) == names
