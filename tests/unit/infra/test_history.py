"""What one sample of a query describes, and how a range is cut for Prometheus' 11,000-point limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlprom.infra.history import MAX_POINTS, chunks, split_by_day, window_of


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))', 60.0),
        ("histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))", 300.0),
        ("irate(node_pressure_cpu_waiting_seconds_total[1m])", 0.0),
        ("node_load1", 0.0),
        ("max_over_time(rate(x[30s])[10m:1m])", 600.0),
        ("rate(x[1m30s]) / irate(y[5m])", 90.0),
        ('up{job="a[1m]"}', 0.0),
    ],
)
def test_window_of_reads_the_longest_range(expr: str, seconds: float) -> None:
    assert window_of(expr) == seconds


def test_a_day_at_one_second_is_cut_under_the_point_limit() -> None:
    pieces = chunks(0.0, 86400.0, 1.0)
    assert all((b - a) / 1.0 + 1 <= MAX_POINTS for a, b in pieces)
    assert pieces[0][0] == 0.0 and pieces[-1][1] == 86400.0 and len(pieces) == 8
    # Consecutive chunks are one step apart: no point twice, none missing.
    assert all(b2 == b1 + 1.0 for (_, b1), (b2, _) in zip(pieces, pieces[1:], strict=False))


def test_a_day_at_thirty_seconds_is_one_request() -> None:
    assert len(chunks(-400.0, 86800.0, 30.0)) == 1


def test_archived_ranges_are_cut_at_midnight() -> None:
    pieces = split_by_day(86400.0 - 90.0, 86400.0 + 60.0, 30.0)
    assert pieces == [(86310.0, 86370.0), (86400.0, 86460.0)]


class _Answers:
    """Stands in for PrometheusClient.query_range: each query's series as given, over any range."""

    source = "http://prometheus.test"

    def __init__(
        self, series: dict[str, list[tuple[dict[str, str], list[float], list[float | None]]]]
    ) -> None:
        self.series = series

    def query_range(self, expr: str, start: float, end: float, step: float) -> object:
        from mlprom.clients.prometheus import RangeResult, RangeSeries

        name = expr  # the test's queries are named by their expression
        return RangeResult(
            tuple(RangeSeries(labels, tuple(t), tuple(v)) for labels, t, v in self.series.get(name, [])), ()
        )


def test_history_series_come_out_sorted_by_labels_and_time_whatever_order_they_came_in(
    tmp_path: Path,
) -> None:
    from datetime import UTC, date, datetime

    from mlprom.config import load_config_text
    from mlprom.infra.history import load_infra
    from mlprom.storage.local import LocalStorage

    day = date(2026, 3, 1)
    midnight = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    config = load_config_text(
        f"storage: {{url: '{tmp_path}'}}\nprometheus: {{url: 'http://prometheus.test'}}\n"
        "queries: {a: {expr: a}, b: {expr: b}}\ncorrelate: {infra_source: prometheus, step: 30s}\n"
    )
    t = [midnight + 30 * i for i in range(4)]
    answers = _Answers(
        {
            # In order: taken as it came.
            "a": [({"instance": "z"}, t, [1.0, 2.0, None, 4.0]), ({"instance": "y"}, t[:2], [5.0, 6.0])],
            # Out of order, one step twice (a server that merged overlapping blocks): sorted, the last kept.
            "b": [({"instance": "x"}, [t[2], t[0], t[1], t[1]], [3.0, 1.0, 9.0, 2.0])],
        }
    )
    infra = load_infra(config, LocalStorage(tmp_path), day, answers, now=midnight + 86400 * 2)  # type: ignore[arg-type]

    a = infra.queries["a"]
    assert [s.labels for s in a.series] == [{"instance": "y"}, {"instance": "z"}]
    assert (a.series[1].times, a.series[1].values) == (t, [1.0, 2.0, None, 4.0])
    assert (a.series[0].times, a.series[0].values) == (t[:2], [5.0, 6.0])
    assert a.source == "prometheus" and a.points == 4
    b = infra.queries["b"]
    assert (b.series[0].times, b.series[0].values) == (t[:3], [1.0, 2.0, 3.0])


class _ParsedAnswers:
    """Stands in for PrometheusClient.query_range: each chunk's answer parsed as the client parses it."""

    source = "http://prometheus.test"

    def query_range(self, expr: str, start: float, end: float, step: float) -> object:
        from mlprom.clients.prometheus import RangeResult, parse_matrix_data

        # NaN in the first chunk only, +Inf at the last point of every chunk.
        values = [[start, "NaN" if start == 0 else "1"], [start + step, "2"], [end, "+Inf"]]
        data = {"resultType": "matrix", "result": [{"metric": {"job": "node"}, "values": values}]}
        return RangeResult(parse_matrix_data(data), ())


def test_nan_and_inf_text_follow_their_points_across_chunks_into_the_range_document() -> None:
    from mlprom.config import Query
    from mlprom.infra import history

    step = 1.0
    end = 2 * history.MAX_POINTS * step - step  # two chunks
    results, sent = history.fetch_history(_ParsedAnswers(), {"q": Query(expr="q")}, 0.0, end, step)  # type: ignore[arg-type]
    assert sent == 2
    document = history.range_document(results["q"], 0.0, end, step, "http://prometheus.test")
    (series,) = document["series"]
    assert series["v"] == [None, 2.0, None, 1.0, 2.0, None]
    assert series["raw"] == ["NaN", None, "+Inf", None, None, "+Inf"]
    assert history.range_problem(document, "q", "q", 0.0, end, step) is None


def test_a_range_object_with_points_outside_its_range_is_a_problem() -> None:
    from mlprom.infra.history import RANGE_VERSION, range_problem

    def doc(t: list[object], v: list[object]) -> dict[str, object]:
        return {
            "version": RANGE_VERSION,
            "kind": "range",
            "query": "q",
            "expr": "e",
            "start": 0.0,
            "end": 60.0,
            "step": 30.0,
            "series": [{"labels": {}, "t": t, "v": v}],
        }

    assert range_problem(doc([0.0, 30.0], [1.0, None]), "q", "e", 0.0, 60.0, 30.0) is None
    assert "inside the range" in str(range_problem(doc([0.0, 1e300], [1.0, 2.0]), "q", "e", 0.0, 60.0, 30.0))
    assert "inside the range" in str(range_problem(doc([None], [1.0]), "q", "e", 0.0, 60.0, 30.0))
    assert "finite number nor null" in str(range_problem(doc([0.0], ["abc"]), "q", "e", 0.0, 60.0, 30.0))
    assert "one length" in str(range_problem(doc([0.0, 30.0], [1.0]), "q", "e", 0.0, 60.0, 30.0))
    assert "another range" in str(range_problem(doc([0.0], [1.0]), "q", "e", 0.0, 90.0, 30.0))
    assert "another query" in str(range_problem(doc([0.0], [1.0]), "q", "other", 0.0, 60.0, 30.0))


def test_infra_key_ignores_what_a_models_override_changes_and_follows_what_load_infra_reads(
    tmp_path: Path,
) -> None:
    from datetime import date
    from typing import Any

    import yaml

    from mlprom.config import load_config_text
    from mlprom.infra.history import infra_key
    from mlprom.infra.resolution import Resolution, with_step
    from mlprom.storage.local import LocalStorage

    base: dict[str, Any] = {
        "correlate": {"infra_source": "snapshots", "step": "30s"},
        "queries": {"cpu_usage": "rate(x[1m])"},
        "models": {
            "fraud": {"latency_threshold": "2s", "thresholds": {"cpu_usage": 0.5}, "labels": {"t": "r"}}
        },
    }
    storage, day = LocalStorage(tmp_path), date(2026, 11, 20)

    def key_of(correlate: dict[str, Any] | None = None, **sections: Any) -> tuple[object, ...]:
        document = {**base, **sections, "correlate": {**base["correlate"], **(correlate or {})}}
        config = load_config_text(yaml.safe_dump(document), "<test>", env={})
        return infra_key(config.for_model("churn"), storage, day)

    config = load_config_text(yaml.safe_dump(base), "<test>", env={})
    key = key_of()
    assert infra_key(config.for_model("fraud"), storage, day) == key  # its overrides are not read
    assert infra_key(config.for_model("churn"), LocalStorage(tmp_path / "other"), day) != key
    assert infra_key(config.for_model("churn"), storage, date(2026, 11, 21)) != key
    assert infra_key(with_step(config, Resolution(15.0, "fixed")), storage, day) != key
    assert key_of(prometheus={"url": "http://elsewhere:9090"}) == key  # snapshots only: never asked
    assert key_of(queries={"cpu_usage": "rate(x[5m])"}) != key
    assert key_of(queries={"cpu_usage": {"expr": "rate(x[1m])", "window": "2m"}}) != key
    assert key_of(queries={"cpu_usage": "rate(x[1m])", "memory": "m"}) != key
    for change in ({"max_skew": "60s"}, {"max_lag": "60s"}, {"infra_source": "auto"}):
        assert key_of(change) != key, change
    auto = {"infra_source": "auto"}
    assert key_of(auto, prometheus={"url": "http://elsewhere:9090"}) != key_of(auto)
