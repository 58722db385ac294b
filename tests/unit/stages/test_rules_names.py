"""Recording rule names of `mlprom rules` follow level:metric:operations (docs/alerting.md)."""

from __future__ import annotations

import pytest

from mlprom.stages.rules import alert_name, keeps_model_label, rule_name_parts


@pytest.mark.parametrize(
    ("expr", "parts"),
    [
        ('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))', ("instance", "avg_rate1m")),
        ("rate(node_disk_read_bytes_total[1m])", ("instance", "rate1m")),
        ("100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)", ("instance", "ratio")),
        ('sum(rate(http_requests_total{code=~"2.."}[5m]))', ("model", "rate5m")),
        ("sum(rate(requests_total[5m])) by (job, path)", ("job_path", "rate5m")),
        (
            "histogram_quantile(0.95, sum by (model, instance, le) (rate(d_bucket[5m])))",
            ("instance", "p95_rate5m"),
        ),
        ("histogram_quantile(0.999, sum by (le) (rate(d_bucket[5m])))", ("model", "p99_9_rate5m")),
        (
            "sum by (job) (rate(failures_total[5m])) / sum by (job) (rate(requests_total[5m]))",
            ("job", "ratio_rate5m"),
        ),
        ('max_over_time(rate(x{path="rate(a[9m])"}[1m])[5m:])', ("instance", "max_over_time5m_rate1m")),
    ],
)
def test_record_name_parts_follow_the_practices(expr: str, parts: tuple[str, str]) -> None:
    assert rule_name_parts(expr) == parts


@pytest.mark.parametrize("expr", ["node_load1", 'up{job="node"}', "node_memory_Active_bytes / 1024"])
def test_a_query_that_computes_nothing_gets_no_recording_rule(expr: str) -> None:
    assert rule_name_parts(expr) is None


def test_only_a_query_grouped_by_model_keeps_its_series_model_label() -> None:
    assert keeps_model_label("histogram_quantile(0.95, sum by (model, le) (rate(d_bucket[5m])))")
    assert not keeps_model_label('sum(rate(d_count{model="churn"}[5m]))')


@pytest.mark.parametrize(
    ("query", "direction", "name"),
    [
        ("cpu_usage", "above", "MlpromCpuUsageHigh"),
        ("free-disk %", "below", "MlpromFreeDiskLow"),
        ("2xx_rate", "above", "Mlprom2xxRateHigh"),
    ],
)
def test_alert_names_say_what_they_alert_on(query: str, direction: str, name: str) -> None:
    assert alert_name(query, direction) == name
