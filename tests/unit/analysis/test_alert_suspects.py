"""The suspects an alert names: the report's significant infrastructure causes, best first, bounded."""

from __future__ import annotations

from typing import Any

from mlprom.analysis.findings import (
    MAX_SUSPECTS_TEXT,
    alert_suspects,
    suspect_phrase,
    suspects_text,
)
from mlprom.analysis.suspects import Suspect


def suspect(metric: str, labels: dict[str, str] | None = None, **fields: Any) -> Suspect:
    values: dict[str, Any] = {
        "significant": True,
        "q_value": 0.002,
        "lag_seconds": 0.0,
        "direction": "rise",
        "role": "cause",
        "kind": "infra",
        **fields,
    }
    return Suspect(metric, labels or {}, values.pop("effect", 4.1), 1.0, 0.2, 0.1, 20, 200, 5, 50, **values)


def test_only_significant_infra_causes_are_named_in_rank_order() -> None:
    ranked = [
        suspect("cpu_usage", significant=False, q_value=0.3),
        suspect("io_pressure", {"instance": "node-b"}),
        suspect("http_latency", role="consequence"),
        suspect("accuracy", kind="model"),
        suspect("memory_usage", lag_seconds=30),
    ]
    assert [s.metric for s in alert_suspects(ranked)] == ["io_pressure", "memory_usage"]


def test_at_most_three_suspects_are_named() -> None:
    ranked = [suspect(f"q{i}") for i in range(5)]
    assert [s.metric for s in alert_suspects(ranked)] == ["q0", "q1", "q2"]
    assert suspects_text(ranked).count(";") == 2


def test_none_significant_names_none() -> None:
    assert alert_suspects([suspect("cpu_usage", significant=False)]) == ()
    assert suspects_text([]) == ""


def test_the_text_names_series_movement_lead_effect_and_q_value() -> None:
    named = alert_suspects(
        [
            suspect("io_pressure", {"instance": "node-b"}),
            suspect(
                "cpu_usage",
                {"instance": "node-a", "job": "node"},
                lag_seconds=30,
                effect=-2.25,
                direction="fall",
                q_value=0.0123,
            ),
        ]
    )
    assert suspects_text(named) == (
        "io_pressure{instance=node-b} rising 0 s before (+4.1 σ, q = 0.002); "
        "cpu_usage{instance=node-a, job=node} falling 30 s before (-2.2 σ, q = 0.012)"
    )
    assert suspect_phrase(named[0]) == "io_pressure on instance=node-b rising 0 s before"


def test_a_suspect_without_labels_or_q_value_reads_plainly() -> None:
    assert suspects_text([suspect("system_load", q_value=None, lag_seconds=60)]) == (
        "system_load rising 60 s before (+4.1 σ)"
    )


def test_long_labels_keep_the_text_bounded_and_every_suspect_visible() -> None:
    ranked = [suspect(f"q{i}", {f"l{j}": "x" * 5000 for j in range(3)}) for i in range(3)]
    text = suspects_text(ranked)
    assert len(text) <= MAX_SUSPECTS_TEXT and text.endswith("…")
    # One long label value is cut on its own, so the first suspect's movement is still there.
    assert "q0{" in text and "rising 0 s before" in text
    phrase = suspect_phrase(ranked[0])
    assert len(phrase) < 300 and phrase.endswith("rising 0 s before")
