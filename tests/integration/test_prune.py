"""prune against a real moto_server S3 and a local directory: what goes, what stays, what it costs."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlprom import layout
from mlprom.config import load_config_text
from mlprom.errors import ConfigError, StorageError
from mlprom.stages import prune
from mlprom.storage import RequestCounter
from mlprom.storage.local import LocalStorage
from mlprom.storage.s3 import S3Storage
from tests.fixtures.servers import list_s3_keys, s3_client

TODAY = date(2026, 3, 1)
DAYS = 40
UNKNOWN_KEYS = (
    "model/README.txt",
    "infra/dt=latest/snapshot.json",
    "reports/dt=2019-13-45/correlation.json",
    "alerts/notes.md",
    "elsewhere/dt=2020-01-01/x.json",
)


def _layout_keys(
    today: date, days: int, models: int = 2, events_per_model: int = 15, snapshots: int = 10
) -> list[str]:
    """Keys of `days` date partitions in every stage, the newest dated `today`."""
    keys = []
    for age in range(days):
        day = today - timedelta(days=age)
        at = datetime.combine(day, time(12, 0), UTC)
        for m in range(models):
            for i in range(events_per_model):
                keys.append(layout.event_key(day, f"model-{m}", at, object_id=f"{m:04x}{i:012x}"))
            keys.append(layout.report_key(day, f"model-{m}"))
            keys.append(layout.alert_run_key(day, f"model-{m}", at, object_id=f"{1:016x}"))
        for i in range(snapshots):
            keys.append(layout.snapshot_key(day, at, object_id=f"{i:016x}"))
        # The previous layout's keys of the same partitions: pruned alike.
        keys.append(layout.legacy_report_key(day))
        keys.append(f"{layout.partition_prefix('alerts', day)}120000-{2:016x}.json")
    return keys


def _state(*alerts: tuple[str, date]) -> bytes:
    return orjson.dumps(
        {
            "updated_at": "2026-03-01T00:00:00Z",
            "alerts": [
                {
                    "fingerprint": f"f{n}",
                    "labels": {"alertname": "MlpromFinding", "metric": "cpu_usage"},
                    "annotations": {},
                    "startsAt": "2026-02-01T00:00:00Z",
                    "endsAt": "2026-03-01T01:00:00Z",
                    "status": status,
                    "resolved_at": None if status == "firing" else "2026-02-20T00:00:00Z",
                    "date": day.isoformat(),
                    "report": layout.report_key(day, "model-0"),
                }
                for n, (status, day) in enumerate(alerts)
            ],
        }
    )


def _fill(storage: Any, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: storage.put_bytes(k, b'{"x": 1}\n'), keys))


def _expired(keys: list[str], keep_days: int, today: date = TODAY) -> set[str]:
    cutoff = today - timedelta(days=keep_days)
    return {k for k in keys if (p := layout.parse_partition(k)) is not None and p[1] < cutoff}


def _config(storage_url: str = "./unused", endpoint: str | None = None) -> Any:
    text = f"storage: {{url: '{storage_url}'" + (
        f", endpoint_url: '{endpoint}', region: us-east-1" if endpoint else ""
    )
    return load_config_text(text + "}")


def _local_keys(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- S3


def test_prune_s3_deletes_exactly_the_expired_partitions_in_counted_requests(
    moto_s3: str, s3_bucket: str
) -> None:
    keys = _layout_keys(TODAY, DAYS)
    writer = S3Storage(s3_bucket, "prefix", endpoint_url=moto_s3, region="us-east-1")
    _fill(writer, [*keys, *UNKNOWN_KEYS])
    writer.put_bytes(layout.LEGACY_ALERT_STATE_KEY, _state())
    writer.put_bytes(layout.alert_state_key("model-1"), _state())
    counter = RequestCounter()
    config = _config(f"s3://{s3_bucket}/prefix", moto_s3)

    result = prune.run(config, keep_days=10, confirm=lambda _: True, counter=counter, today=TODAY)

    expired = _expired(keys, 10)
    remaining = {k.removeprefix("prefix/") for k in list_s3_keys(moto_s3, s3_bucket)}
    states = {layout.LEGACY_ALERT_STATE_KEY, layout.alert_state_key("model-1")}
    assert remaining == (set(keys) - expired) | set(UNKNOWN_KEYS) | states
    assert result.exit_code == 0 and result.objects == len(expired) > 1000
    assert result.unknown_count == 4  # "elsewhere/" is under no stage prefix: never even listed
    assert {(p.stage, p.day) for p in result.partitions} == {
        (s, TODAY - timedelta(days=age)) for s in layout.STAGES for age in range(11, DAYS)
    }
    # One page of ListObjectsV2 per 1,000 keys (at least one) per stage prefix, as the objects stood.
    per_stage = {s: sum(1 for k in [*keys, *UNKNOWN_KEYS] if k.startswith(s + "/")) for s in layout.STAGES}
    per_stage["alerts"] += 2  # the two alert states
    pages = sum(max(1, math.ceil(n / 1000)) for n in per_stage.values())
    pages += 1  # the listing of the models' alert states (alerts/model=)
    assert counter.counts == {
        "GetObject": 2,  # the previous layout's alerts/state.json and model-1's
        "ListObjectsV2": pages,
        "DeleteObjects": math.ceil(len(expired) / 1000),
    }


class _RefusingClient:
    """A real boto3 client whose DeleteObjects reports AccessDenied for chosen keys, as S3 does per key."""

    def __init__(self, client: Any, refuse: set[str]) -> None:
        self._client = client
        self.refuse = refuse

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, **kwargs: Any) -> dict[str, Any]:
        objects = kwargs["Delete"]["Objects"]
        allowed = [o for o in objects if o["Key"] not in self.refuse]
        refused = [o for o in objects if o["Key"] in self.refuse]
        response: dict[str, Any] = {"Errors": []}
        if allowed:
            response = self._client.delete_objects(
                **{**kwargs, "Delete": {**kwargs["Delete"], "Objects": allowed}}
            )
            response.setdefault("Errors", [])
        response["Errors"] += [
            {"Key": o["Key"], "Code": "AccessDenied", "Message": "Access Denied"} for o in refused
        ]
        return response


def test_prune_reports_refused_keys_and_a_rerun_finishes(moto_s3: str, s3_bucket: str) -> None:
    keys = _layout_keys(TODAY, 12, models=1, events_per_model=5, snapshots=2)
    _fill(S3Storage(s3_bucket, "p", endpoint_url=moto_s3, region="us-east-1"), keys)
    expired = sorted(_expired(keys, 3))
    refused = {expired[0], expired[-1]}
    faulty = S3Storage(
        s3_bucket, "p", client=_RefusingClient(s3_client(moto_s3), {f"p/{k}" for k in refused})
    )
    config = _config(f"s3://{s3_bucket}/p", moto_s3)

    first = prune.run(config, keep_days=3, confirm=lambda _: True, storage=faulty, today=TODAY)

    assert first.exit_code == 3
    assert {k for k, _ in first.failures} == refused and first.failed_count == 2
    assert all("AccessDenied" in reason for _, reason in first.failures)
    assert first.objects == len(expired) - 2
    assert {p.status for p in first.partitions if p.failed} == {"failed"}
    assert {k.removeprefix("p/") for k in list_s3_keys(moto_s3, s3_bucket)} == (
        set(keys) - set(expired)
    ) | refused

    second = prune.run(config, keep_days=3, confirm=lambda _: True, today=TODAY)

    assert second.exit_code == 0 and second.objects == 2
    assert {k.removeprefix("p/") for k in list_s3_keys(moto_s3, s3_bucket)} == set(keys) - set(expired)


def test_prune_stops_when_the_store_refuses_a_whole_batch(moto_s3: str, s3_bucket: str) -> None:
    keys = _layout_keys(TODAY, 10, models=1, events_per_model=300, snapshots=0)
    _fill(S3Storage(s3_bucket, "", endpoint_url=moto_s3, region="us-east-1"), keys)
    expired = _expired(keys, 2)
    faulty = S3Storage(s3_bucket, "", client=_RefusingClient(s3_client(moto_s3), set(expired)))

    result = prune.run(
        _config(f"s3://{s3_bucket}"), keep_days=2, confirm=lambda _: True, storage=faulty, today=TODAY
    )

    # The first batch of 1,000 was refused whole: no point sending the other batches.
    assert result.exit_code == 3 and result.objects == 0
    assert result.failed_count == 1000 and result.not_attempted == len(expired) - 1000
    assert set(list_s3_keys(moto_s3, s3_bucket)) == set(keys)


def test_prune_of_a_missing_bucket_names_the_bucket(moto_s3: str) -> None:
    config = _config("s3://mlprom-no-such-bucket/x", moto_s3)
    with pytest.raises(StorageError, match="mlprom-no-such-bucket"):
        prune.run(config, keep_days=3, confirm=lambda _: True, today=TODAY)


# ---------------------------------------------------------------- local storage and safety


def test_prune_local_deletes_expired_partitions_and_their_directories(tmp_path: Path) -> None:
    root = tmp_path / "data"
    storage = LocalStorage(root)
    keys = _layout_keys(TODAY, 15, events_per_model=3, snapshots=2)
    _fill(storage, [*keys, *UNKNOWN_KEYS])
    storage.put_bytes(layout.alert_state_key("model-0"), _state())

    result = prune.run(_config(str(root)), keep_days=7, confirm=lambda _: True, today=TODAY)

    kept = set(UNKNOWN_KEYS) | {layout.alert_state_key("model-0")}
    assert _local_keys(root) == (set(keys) - _expired(keys, 7)) | kept
    assert result.exit_code == 0 and result.objects == len(_expired(keys, 7))
    old = TODAY - timedelta(days=8)
    for stage in layout.STAGES:
        assert not (root / layout.partition_prefix(stage, old)).exists()
    # The partition dated exactly today - keep_days is kept.
    assert (root / layout.partition_prefix("infra", TODAY - timedelta(days=7))).is_dir()


def test_prune_relists_expired_partitions_when_too_many_keys_to_hold(tmp_path: Path) -> None:
    root = tmp_path / "data"
    keys = _layout_keys(TODAY, 15, events_per_model=3, snapshots=2)
    _fill(LocalStorage(root), keys)

    result = prune.run(_config(str(root)), keep_days=7, confirm=lambda _: True, today=TODAY, hold_keys_max=10)

    assert _local_keys(root) == set(keys) - _expired(keys, 7)
    assert result.objects == len(_expired(keys, 7)) and result.exit_code == 0


def test_prune_keeps_partitions_cited_by_firing_alerts(tmp_path: Path) -> None:
    root = tmp_path / "data"
    storage = LocalStorage(root)
    keys = _layout_keys(TODAY, 20, events_per_model=2, snapshots=1)
    _fill(storage, keys)
    firing, resolved = TODAY - timedelta(days=15), TODAY - timedelta(days=12)
    # One model's firing alert protects its date; another model's resolved one protects nothing.
    storage.put_bytes(layout.alert_state_key("model-0"), _state(("firing", firing)))
    storage.put_bytes(layout.alert_state_key("model-1"), _state(("resolved", resolved)))

    result = prune.run(_config(str(root)), keep_days=5, confirm=lambda _: True, today=TODAY)

    left = _local_keys(root)
    for stage in layout.STAGES:
        assert any(k.startswith(layout.partition_prefix(stage, firing)) for k in left)
        assert not any(k.startswith(layout.partition_prefix(stage, resolved)) for k in left)
    assert result.protected_dates == (firing,)
    assert {p.stage for p in result.protected} == set(layout.STAGES)
    assert all(p.status == "kept_firing_alert" for p in result.protected)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"alerts": {}}', b'{"alerts": [{"status": "firing", "date": "yesterday"}]}'],
)
def test_prune_refuses_when_the_alert_state_is_corrupt(tmp_path: Path, body: bytes) -> None:
    root = tmp_path / "data"
    storage = LocalStorage(root)
    keys = _layout_keys(TODAY, 10, events_per_model=1, snapshots=1)
    _fill(storage, keys)
    storage.put_bytes(layout.alert_state_key("model-1"), body)

    with pytest.raises(StorageError, match="alerts/model=model-1/state.json"):
        prune.run(_config(str(root)), keep_days=2, confirm=lambda _: True, today=TODAY)
    assert _local_keys(root) == set(keys) | {layout.alert_state_key("model-1")}


def test_prune_dry_run_lists_and_deletes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    keys = _layout_keys(TODAY, 10, events_per_model=1, snapshots=1)
    _fill(LocalStorage(root), keys)
    asked: list[str] = []

    def confirm(summary: str) -> bool:
        asked.append(summary)
        return True

    result = prune.run(_config(str(root)), keep_days=3, dry_run=True, confirm=confirm, today=TODAY)

    assert _local_keys(root) == set(keys) and not asked
    assert result.objects == len(_expired(keys, 3))
    assert {p.status for p in result.partitions} == {"would_delete"}


def test_prune_deletes_nothing_when_the_user_declines(tmp_path: Path) -> None:
    root = tmp_path / "data"
    keys = _layout_keys(TODAY, 10, events_per_model=1, snapshots=1)
    _fill(LocalStorage(root), keys)
    asked: list[str] = []

    def decline(summary: str) -> bool:
        asked.append(summary)
        return False

    result = prune.run(_config(str(root)), keep_days=3, confirm=decline, today=TODAY)

    assert _local_keys(root) == set(keys) and result.cancelled and result.objects == 0
    assert "dated before 2026-02-26" in asked[0] and f"{len(_expired(keys, 3))} objects" in asked[0]


def test_prune_limits_itself_to_the_given_stages(tmp_path: Path) -> None:
    root = tmp_path / "data"
    keys = _layout_keys(TODAY, 10, events_per_model=1, snapshots=1)
    _fill(LocalStorage(root), keys)

    prune.run(_config(str(root)), keep_days=3, stages=["infra"], confirm=lambda _: True, today=TODAY)

    gone = {k for k in _expired(keys, 3) if k.startswith("infra/")}
    assert gone and _local_keys(root) == set(keys) - gone


@pytest.mark.parametrize("days", [0, -1])
def test_prune_refuses_less_than_one_day(tmp_path: Path, days: int) -> None:
    with pytest.raises(ConfigError, match="--keep-days must be at least 1"):
        prune.run(_config(str(tmp_path)), keep_days=days, confirm=lambda _: True, today=TODAY)


def test_prune_draws_its_progress_bar_on_stderr_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    keys = _layout_keys(TODAY, 10, events_per_model=1, snapshots=1)
    _fill(LocalStorage(root), keys)

    result = prune.run(_config(str(root)), keep_days=3, confirm=lambda _: True, today=TODAY, progress=True)

    assert result.objects == len(_expired(keys, 3))
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- a clock ahead of the store


def _clock_ahead_case(storage: Any) -> tuple[date, list[str]]:
    """40 days of real data up to the real today, each object written now (its modification time)."""
    real_today = datetime.now(UTC).date()
    keys = _layout_keys(real_today, 40, models=1, events_per_model=1, snapshots=1)
    _fill(storage, keys)
    return real_today, keys


def _assert_kept_by_the_store(result: Any, keys: list[str], remaining: set[str], real_today: date) -> None:
    # The store's newest write is today: everything dated from today - 29 on stays, as a right clock
    # with --keep-days 30 would keep it (less today's partition, which that clock would also keep).
    store_cutoff = real_today - timedelta(days=29)
    assert remaining == {k for k in keys if layout.parse_partition(k)[1] >= store_cutoff}  # type: ignore[index]
    kept = {(p.stage, p.day) for p in result.protected if p.status == "kept_newer_than_stored_data"}
    assert kept == {(s, real_today - timedelta(days=age)) for s in layout.STAGES for age in range(30)}
    assert result.partitions and all(p.day < store_cutoff for p in result.partitions)


def test_a_clock_400_days_ahead_keeps_the_real_recent_partitions_of_a_local_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "data"
    real_today, keys = _clock_ahead_case(LocalStorage(root))

    ahead = real_today + timedelta(days=400)
    result = prune.run(_config(str(root)), keep_days=30, confirm=lambda _: True, today=ahead)

    _assert_kept_by_the_store(result, keys, _local_keys(root), real_today)
    assert result.exit_code == 0
    (warning,) = [r.getMessage() for r in caplog.records if "is the clock ahead" in r.getMessage()]
    assert f"kept 120 partition(s) dated {(real_today - timedelta(days=29)).isoformat()} or later" in warning
    assert f"the clock says today is {ahead.isoformat()}" in warning


def test_a_clock_400_days_ahead_keeps_the_real_recent_partitions_of_s3(moto_s3: str, s3_bucket: str) -> None:
    # S3's LastModified comes from the server's clock, not from the one running prune.
    real_today, keys = _clock_ahead_case(S3Storage(s3_bucket, "", endpoint_url=moto_s3, region="us-east-1"))

    ahead = real_today + timedelta(days=400)
    result = prune.run(
        _config(f"s3://{s3_bucket}", moto_s3), keep_days=30, confirm=lambda _: True, today=ahead
    )

    _assert_kept_by_the_store(result, keys, set(list_s3_keys(moto_s3, s3_bucket)), real_today)


def test_a_clock_that_is_right_deletes_what_the_retention_says(tmp_path: Path) -> None:
    root = tmp_path / "data"
    real_today, keys = _clock_ahead_case(LocalStorage(root))

    result = prune.run(_config(str(root)), keep_days=30, confirm=lambda _: True, today=real_today)

    assert _local_keys(root) == set(keys) - _expired(keys, 30, real_today)
    assert not any(p.status == "kept_newer_than_stored_data" for p in result.protected)
