"""stages/fleet.py without I/O: each model runs with its own config, a failing model does not stop the
others, and the exit code folds worst first (3 > 2 > 1 > 4 > 0)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlprom.config import Config, load_config_text
from mlprom.errors import NoDataError, UpstreamError
from mlprom.reports.results import Clean, FleetResult, fold_exit_codes
from mlprom.stages import fleet


@dataclass(frozen=True)
class _Done(Clean):
    model: str
    latency_threshold: float
    code: int = 0

    @property
    def exit_code(self) -> int:
        return self.code

    def to_dict(self) -> dict[str, object]:
        return {"latency_threshold": self.latency_threshold}


@pytest.mark.parametrize(
    ("codes", "folded"),
    [
        ([0, 0], 0),
        ([0, 4], 4),
        ([4, 1, 0], 1),  # findings outrank a model without data
        ([1, 2, 4], 2),
        ([1, 3, 2], 3),  # an upstream failing is never hidden by findings or bad input
        ([], 0),
    ],
)
def test_exit_codes_fold_worst_first(codes: list[int], folded: int) -> None:
    assert fold_exit_codes(codes) == folded


def test_each_model_runs_with_its_overrides_and_a_failure_stays_its_own() -> None:
    config = load_config_text("models: {fast: {latency_threshold: 2s}}", "<test>", env={})
    seen: list[str] = []
    lock = threading.Lock()

    def work(own: Config, _shared: fleet.Shared) -> _Done:
        with lock:
            seen.append(own.model.name)
        if own.model.name == "down":
            raise UpstreamError("storage at s3://b/k: 503")
        if own.model.name == "empty":
            raise NoDataError("no events")
        if own.model.name == "buggy":
            raise KeyError("oops")
        return _Done(own.model.name, own.model.latency_threshold, 1 if own.model.name == "hot" else 0)

    names = ["fast", "down", "empty", "buggy", "hot", "plain"]
    result = fleet.run(config, "correlate", names, work, jobs=3)

    assert sorted(seen) == sorted(names)
    assert [m.model for m in result.members] == names  # in the order named, whatever finished first
    codes = {m.model: m.exit_code for m in result.members}
    assert codes == {"fast": 0, "down": 3, "empty": 4, "buggy": 2, "hot": 1, "plain": 0}
    assert result.exit_code == 3
    by_model = {m.model: m for m in result.members}
    assert by_model["fast"].result.latency_threshold == 2.0
    assert by_model["plain"].result.latency_threshold == 10.0
    assert by_model["down"].error == "storage at s3://b/k: 503"
    assert "KeyError" in (by_model["buggy"].error or "")
    documents = result.to_dict()
    assert documents[0] == {"schema_version": 1, "latency_threshold": 2.0, "model": "fast", "exit_code": 0}
    assert documents[1] == {
        "schema_version": 1,
        "model": "down",
        "exit_code": 3,
        "error": "storage at s3://b/k: 503",
    }


def test_after_folds_a_failed_heartbeat_into_that_model_only() -> None:
    config = load_config_text("", "<test>", env={})

    def work(own: Config, _shared: fleet.Shared) -> _Done:
        return _Done(own.model.name, 0.0)

    result = fleet.run(
        config, "alert", ["a", "b"], work, jobs=1, after=lambda own, _r, _s: 3 if own.model.name == "b" else 0
    )
    assert [m.exit_code for m in result.members] == [0, 3]


def test_publish_names_each_models_file_and_its_failure_stays_that_models() -> None:
    from mlprom.errors import InputError

    config = load_config_text("", "<test>", env={})

    def work(own: Config, _shared: fleet.Shared) -> _Done:
        return _Done(own.model.name, 0.0)

    def publish(model: str, own: Config, _result: object) -> str:
        assert own.model.name == model
        if model == "b":
            raise InputError("cannot write site/b.html: is a symbolic link")
        return f"site/{model}.html"

    result = fleet.run(config, "report", ["a", "b", "c"], work, jobs=2, publish=publish)
    assert [(m.model, m.exit_code, m.out) for m in result.members] == [
        ("a", 0, "site/a.html"),
        ("b", 2, None),
        ("c", 0, "site/c.html"),
    ]
    assert result.members[1].error == "cannot write site/b.html: is a symbolic link"
    assert result.to_dict()[0]["out"] == "site/a.html" and "out" not in result.to_dict()[1]


def test_selected_models_keeps_the_order_given_once_each_and_refuses_a_bad_name() -> None:
    assert fleet.selected_models(["b", "a", "b"]) == ["b", "a"]
    with pytest.raises(ValueError, match="'a/b'"):
        fleet.selected_models(["ok", "a/b"])


def test_no_model_at_all_is_the_empty_code() -> None:
    assert FleetResult("correlate", (), empty_code=4).exit_code == 4


def test_models_with_data_lists_the_model_partitions_of_the_dates_and_stages(tmp_path: Path) -> None:
    from datetime import date

    from mlprom import layout
    from mlprom.storage import open_storage

    day, other = date(2026, 11, 20), date(2026, 11, 21)
    storage = open_storage(load_config_text(f"storage: {{url: {tmp_path}}}", "<test>", env={}))
    for key in (
        "model/dt=2026-11-20/model=fraud/100000-0123456789abcdef.jsonl",
        "model/dt=2026-11-20/model=churn/100000-0123456789abcdef.jsonl",
        "model/dt=2026-11-21/model=later/100000-0123456789abcdef.jsonl",
        layout.report_key(day, "reported"),
        layout.legacy_report_key(day),  # the previous layout names no model
        f"model/dt=2026-11-20/model={'x' * 130}/100000-0123456789abcdef.jsonl",  # too long for a model name
    ):
        storage.put_bytes(key, b"{}\n")
    assert fleet.models_with_data(storage, ("model",), [day]) == ["churn", "fraud"]
    assert fleet.models_with_data(storage, ("model", "reports"), [day]) == ["churn", "fraud", "reported"]
    assert fleet.models_with_data(storage, ("model",), [day, other]) == ["churn", "fraud", "later"]
    assert layout.parse_model_partition("infra/dt=2026-11-20/100000-0123456789abcdef.json") is None


def test_shared_loads_a_key_once_while_the_other_threads_wait_for_it() -> None:
    shared = fleet.Shared()
    started = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def load(key: str) -> list[str]:
        calls.append(key)
        if key == "a":  # held until released; "b" is not
            started.set()
            assert release.wait(5)
        return [key]

    got: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: got.append(shared.get("a", lambda: load("a")))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    assert started.wait(5)
    assert shared.get("b", lambda: load("b")) == ["b"]  # another key does not wait for the first
    release.set()
    for thread in threads:
        thread.join(5)
    assert calls.count("a") == 1 and calls.count("b") == 1
    assert len(got) == 4 and all(value is got[0] for value in got)
    assert (shared.loads, shared.hits) == (2, 3)


def test_a_failed_load_is_not_kept_the_next_caller_loads_again() -> None:
    shared = fleet.Shared()

    def failing() -> int:
        raise UpstreamError("storage at s3://b/k: 503")

    with pytest.raises(UpstreamError):
        shared.get("k", failing)
    assert shared.get("k", lambda: 7) == 7
    assert shared.get("k", lambda: 8) == 7
    assert (shared.loads, shared.hits) == (1, 1)


def test_a_fleet_run_hands_every_model_one_shared_and_the_next_run_a_new_one() -> None:
    config = load_config_text("", "<test>", env={})
    seen: list[fleet.Shared] = []

    def work(own: Config, shared: fleet.Shared) -> _Done:
        seen.append(shared)
        return _Done(own.model.name, 0.0)

    fleet.run(config, "correlate", ["a", "b", "c"], work, jobs=2)
    fleet.run(config, "correlate", ["a"], work, jobs=1)
    assert seen[0] is seen[1] is seen[2] and seen[3] is not seen[0]


def _in_flight(jobs: int, names: list[str]) -> tuple[int, list[str], fleet.FleetResult]:
    """Run `names` through fleet.run at `jobs`: the most models seen running at once and the order of
    their starts and ends. The first models are held until as many as may run are running (or 5 s), and
    a moment longer, so one past the cap would be seen; then they all go."""
    config = load_config_text("", "<test>", env={})
    changed = threading.Condition()
    release = threading.Event()
    running = 0
    peak = 0
    order: list[str] = []

    def work(own: Config, _shared: fleet.Shared) -> _Done:
        nonlocal running, peak
        with changed:
            running += 1
            peak = max(peak, running)
            order.append(f"start {own.model.name}")
            changed.notify_all()
        assert release.wait(5)
        with changed:
            running -= 1
            order.append(f"end {own.model.name}")
        return _Done(own.model.name, 0.0)

    results: list[FleetResult] = []
    runner = threading.Thread(
        target=lambda: results.append(fleet.run(config, "alert", names, work, jobs=jobs))
    )
    runner.start()
    expected = min(jobs, len(names))
    with changed:
        assert changed.wait_for(lambda: running == expected, timeout=5), (running, expected)
    time.sleep(0.2)  # room for a model past the cap to start (it would raise the peak)
    release.set()
    runner.join(10)
    assert not runner.is_alive()
    return peak, order, results[0]


@pytest.mark.parametrize(("jobs", "models"), [(2, 5), (3, 7), (8, 3)])
def test_at_most_jobs_models_run_at_once_and_that_many_do(jobs: int, models: int) -> None:
    names = [f"m{i}" for i in range(models)]
    peak, order, result = _in_flight(jobs, names)
    assert peak == min(jobs, models)
    assert sorted(order) == sorted([f"start {n}" for n in names] + [f"end {n}" for n in names])
    assert [m.model for m in result.members] == names and result.exit_code == 0


def test_jobs_1_runs_the_models_one_at_a_time_in_order() -> None:
    names = ["c", "a", "b"]
    peak, order, result = _in_flight(1, names)
    assert peak == 1
    assert order == [f"{step} {n}" for n in names for step in ("start", "end")]
    assert [m.model for m in result.members] == names and result.exit_code == 0
