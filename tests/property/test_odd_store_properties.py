"""The store as it really is: generated odd objects (FIFOs, symlink loops and dangling links, a
directory or an over-cap sparse file where an object should be, a partition replaced by a file, odd
key names, events stamped at the calendar's ends, huge finite numbers, overlong lines) planted in a
real local store next to good data, then `correlate` and `alert --dry-run`: the exit code is the
contract's, no traceback, no internal error, no secret, and every regular object stored before is
still there byte for byte."""

from __future__ import annotations

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
        where = draw(st.sampled_from([PARTITION, INFRA]))
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
    partition = root / PARTITION
    if spoil_partition == "file" and not os.path.lexists(partition):
        partition.parent.mkdir(parents=True, exist_ok=True)
        partition.write_bytes(b"a file where the partition should be")
    elif spoil_partition == "loop" and not os.path.lexists(partition):
        partition.parent.mkdir(parents=True, exist_ok=True)
        partition.symlink_to(partition.name)


@settings(max_examples=examples(20))
@given(
    planted=plantings(),
    spoil_partition=st.sampled_from(["none", "none", "none", "file", "loop"]),
    fmt=st.sampled_from(["table", "json", "markdown"]),
)
def test_readers_keep_the_contract_on_the_store_as_it_is(
    planted: list[tuple[str, str, Any]], spoil_partition: str, fmt: str
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
        for args in (["correlate", "--fail-on", "warning"], ["alert", "--dry-run"]):
            result = runner.invoke(app, ["-c", str(config), "-o", fmt, *args, "--date", DAY])
            assert isinstance(result.exception, SystemExit) or result.exception is None, repr(
                result.exception
            )
            assert_contract(result.exit_code, result.output, allowed={0, 1, 3, 4})
            if fmt == "json" and result.exit_code in (0, 1):
                orjson.loads(result.stdout)
        replaced = {
            f"reports/dt={DAY}/model=default/correlation.json",
            f"reports/dt={DAY}/model=default/drift-sample.json",
        }
        assert_kept(before, _regular_objects(root), replaced)
