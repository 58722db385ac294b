"""The headline names the infra cause the test found, says when none moved, and says why a date cannot."""

from __future__ import annotations

from dataclasses import replace

from mlprom.analysis.headline import headline
from mlprom.analysis.suspects import Suspect

CPU = Suspect(
    metric="cpu_usage",
    labels={"instance": "node-b:9100"},
    effect=3.2,
    median_slow=0.9,
    median_baseline=0.2,
    mad_baseline=0.05,
    slow_count=40,
    baseline_count=400,
    q_value=0.004,
    significant=True,
    lag_seconds=0.0,
    direction="rise",
    role="cause",
)


def test_a_significant_cause_is_named_with_its_lead_and_evidence() -> None:
    text = headline([CPU, replace(CPU, metric="io_pressure")], slow=40, joined=440, episodes=3, notes=[])
    assert text.startswith("40 slow prediction(s) in 3 episode(s): cpu_usage{instance=node-b:9100} rose")
    assert "at the same time" in text and "q = 0.004" in text and "1 more series" in text


def test_a_lead_is_said_in_seconds_before() -> None:
    assert "60 s before" in headline([replace(CPU, lag_seconds=60.0)], 40, 440, 3, [])


def test_nothing_significant_is_an_answer() -> None:
    quiet = replace(CPU, significant=False)
    text = headline([quiet], slow=40, joined=440, episodes=4, notes=[])
    assert text.endswith("no infrastructure series moved with the slow predictions.")
    assert "cpu_usage" not in text


def test_a_consequence_is_never_the_headline() -> None:
    fell = replace(CPU, role="consequence", direction="fall")
    assert "cpu_usage" not in headline([fell], 40, 440, 4, [])


def test_a_date_that_cannot_support_a_cause_says_why() -> None:
    note = "1 slow episode: one episode cannot show that a series moves with slowness"
    text = headline([replace(CPU, significant=False)], 12, 100, 1, [note])
    assert "cannot name an infrastructure cause" in text and note in text
    assert headline([], 0, 100, 0, []) == "No slow predictions: nothing to explain."
    assert "nothing can be said of the infrastructure" in headline([], 5, 0, 1, [])
