"""`mlprom prune` through the Typer app: exit codes, messages on stderr, JSON on stdout, no tracebacks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mlprom import layout
from mlprom.cli import app
from mlprom.storage.local import LocalStorage
from mlprom.storage.s3 import S3Storage
from tests.fixtures.servers import s3_client


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # Click 8.2+ keeps stderr apart by default
        return CliRunner()


def _seed(storage: Any) -> tuple[set[str], set[str]]:
    """Partitions 0-3 and 30-33 days old: a run crossing UTC midnight changes nothing at --keep-days 10."""
    today = datetime.now(UTC).date()
    old: set[str] = set()
    new: set[str] = set()
    for age in (0, 1, 2, 3, 30, 31, 32, 33):
        day = today - timedelta(days=age)
        at = datetime.combine(day, time(8, 0), UTC)
        for key in (
            layout.event_key(day, "default", at),
            layout.snapshot_key(day, at),
            layout.report_key(day, "default"),
        ):
            storage.put_bytes(key, b"{}\n")
            (old if age >= 30 else new).add(key)
    return old, new


def _local_keys(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _assert_clean_error(result: Any, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    for needle in needles:
        assert needle in result.stderr


@pytest.mark.parametrize("value", ["0", "-3"])
def test_cli_prune_refuses_keep_days_below_one(write_config: Callable[..., Path], value: str) -> None:
    result = _runner().invoke(app, ["-c", str(write_config()), "prune", "--keep-days", value, "--yes"])
    _assert_clean_error(result, 2, "--keep-days must be at least 1")


def test_cli_prune_refuses_a_non_integer_keep_days(write_config: Callable[..., Path]) -> None:
    result = _runner().invoke(app, ["-c", str(write_config()), "prune", "--keep-days", "abc", "--yes"])
    _assert_clean_error(result, 2, "--keep-days")


def test_cli_prune_without_terminal_or_yes_deletes_nothing(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    _seed(LocalStorage(tmp_path / "data"))
    before = _local_keys(tmp_path / "data")

    result = _runner().invoke(app, ["-c", str(write_config()), "prune", "--keep-days", "10"])

    _assert_clean_error(result, 2, "--yes")
    assert _local_keys(tmp_path / "data") == before


def test_cli_prune_with_yes_prints_the_summary_as_json(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    old, new = _seed(LocalStorage(tmp_path / "data"))

    result = _runner().invoke(
        app, ["-c", str(write_config()), "-o", "json", "prune", "--keep-days", "10", "--yes"]
    )

    assert result.exit_code == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert document["status"] == "done" and document["objects"] == len(old)
    assert len(document["partitions"]) == 4 * 3  # four days, three stages
    assert _local_keys(tmp_path / "data") == new


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_cli_prune_dry_run_lists_in_every_format(
    write_config: Callable[..., Path], tmp_path: Path, fmt: str
) -> None:
    old, new = _seed(LocalStorage(tmp_path / "data"))

    result = _runner().invoke(
        app, ["-c", str(write_config()), "-o", fmt, "prune", "--keep-days", "10", "--dry-run"]
    )

    assert result.exit_code == 0, result.stderr
    assert "would_delete" in result.stdout and "dry_run" in result.stdout
    assert _local_keys(tmp_path / "data") == old | new


def test_cli_prune_of_a_missing_bucket_is_exit_3_naming_it(
    write_config: Callable[..., Path], moto_s3: str
) -> None:
    config = write_config(
        {
            "storage": {
                "url": "s3://mlprom-missing-bucket/data",
                "endpoint_url": moto_s3,
                "region": "us-east-1",
            }
        }
    )

    result = _runner().invoke(app, ["-c", str(config), "prune", "--keep-days", "10", "--yes"])

    _assert_clean_error(result, 3, "mlprom-missing-bucket")


def test_cli_prune_with_a_corrupt_alert_state_is_exit_3_naming_the_key(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "data")
    _seed(storage)
    storage.put_bytes(layout.alert_state_key("default"), b"{truncated")
    before = _local_keys(tmp_path / "data")

    result = _runner().invoke(app, ["-c", str(write_config()), "prune", "--keep-days", "10", "--yes"])

    _assert_clean_error(result, 3, "alerts/model=default/state.json", "refusing to prune")
    assert _local_keys(tmp_path / "data") == before


def test_cli_prune_lists_refused_keys_and_exits_3(
    write_config: Callable[..., Path], moto_s3: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_prune import _RefusingClient

    old, _ = _seed(S3Storage(s3_bucket, "", endpoint_url=moto_s3, region="us-east-1"))
    refused = sorted(old)[0]
    faulty = S3Storage(s3_bucket, "", client=_RefusingClient(s3_client(moto_s3), {refused}))
    monkeypatch.setattr("mlprom.storage.open_storage", lambda config, counter=None: faulty)
    config = write_config({"storage": {"url": f"s3://{s3_bucket}", "endpoint_url": moto_s3}})

    result = _runner().invoke(app, ["-c", str(config), "-o", "json", "prune", "--keep-days", "10", "--yes"])

    _assert_clean_error(result, 3, "re-run prune", refused)
    document = orjson.loads(result.stdout)
    assert document["status"] == "partial"
    assert [f["key"] for f in document["failures"]] == [refused]
    assert document["objects"] == len(old) - 1


@pytest.mark.parametrize("fmt", ["json", "table", "markdown"])
def test_cli_prune_shows_a_file_name_that_is_not_utf8_literally(
    write_config: Callable[..., Path], tmp_path: Path, fmt: str
) -> None:
    import os

    root = tmp_path / "data"
    old, new = _seed(LocalStorage(root))
    partition = root / next(iter(sorted(old))).rsplit("/", 1)[0]
    stray = os.fsencode(root / "model") + b"/notes\xff\xfe.txt"  # outside the layout: left alone
    expired = os.fsencode(partition) + b"/events\xff.jsonl"  # inside an expired partition: deleted
    for name in (stray, expired):
        with open(name, "wb") as out:
            out.write(b"{}\n")

    result = _runner().invoke(
        app, ["-c", str(write_config()), "-o", fmt, "prune", "--keep-days", "10", "--yes"]
    )

    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "left alone 1 key(s) outside the layout" in result.stderr
    assert "model/notes\\xff\\xfe.txt" in result.stderr
    if fmt == "json":
        document = orjson.loads(result.stdout)
        assert document["unknown_keys"] == ["model/notes\\xff\\xfe.txt"]
        assert document["objects"] == len(old) + 1
    else:
        # Markdown escapes the backslashes themselves, so the page shows the same text.
        shown = "model/notes\\xff\\xfe.txt" if fmt == "table" else "model/notes\\\\xff\\\\xfe.txt"
        assert shown in result.stdout
        assert "\ufffd" not in result.stdout
    assert os.path.exists(stray) and not os.path.exists(expired)
    assert _local_keys(root) == new | {"model/notes\udcff\udcfe.txt"}
