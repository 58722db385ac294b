"""The headline names the infra cause the test found, says when none moved, and says why a date cannot."""

from __future__ import annotations

from dataclasses import replace

from mlprom.analysis.distinguish import Distinction
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


BATCHES = Distinction("rows", None, "median", 512, 8, 0.98, 40, 400, True)
VERSION = Distinction("model_version", "2", "share", 0.9, 0.1, 0.9, 40, 400, True)
OTHER_VERSION = Distinction("model_version", "1", "share", 0.1, 0.9, 0.1, 40, 400, True)
FEATURE = Distinction("input", "text_len", "median", 900, 20, 0.95, 40, 400, True)
WEAK = Distinction("input", "age", "median", 41, 40, 0.55, 40, 400, False)


def test_nothing_significant_names_what_did_distinguish_the_slow_predictions() -> None:
    text = headline([replace(CPU, significant=False)], 40, 440, 4, [], [BATCHES, WEAK])
    assert text.startswith("40 slow prediction(s) in 4 episode(s): no infrastructure series moved")
    assert "slow predictions were larger batches (median 512 rows against 8; AUC 0.98" in text
    assert "40 slow and 400 fast events" in text and "age" not in text  # not distinguishing: not said


def test_a_significant_cause_is_the_headline_whatever_else_differed() -> None:
    text = headline([CPU], 40, 440, 3, [], [BATCHES])
    assert "cpu_usage" in text and "batches" not in text


def test_at_most_two_factors_are_said_and_the_rest_counted() -> None:
    text = headline([], 40, 440, 4, [], [BATCHES, FEATURE, VERSION, OTHER_VERSION])
    assert "larger batches" in text and 'higher input "text_len" (median 900 against 20' in text
    assert "1 more in the report's distinguishing section" in text  # version "1" less often is not a factor


def test_a_version_more_often_among_the_slow_is_said_with_its_shares() -> None:
    text = headline([], 40, 440, 4, [], [OTHER_VERSION, VERSION])
    assert 'slow predictions were more often model version "2" (90% of slow against 10% of fast' in text
    assert 'version "1"' not in text


def test_a_thin_date_keeps_saying_why_and_still_names_what_differed() -> None:
    note = "1 slow episode: one episode cannot show that a series moves with slowness"
    hours = Distinction("hour", "14:00-15:00", "share", 1.0, 0.04, 0.98, 12, 100, True, (14,))
    text = headline([], 12, 100, 1, [note], [hours])
    assert f"cannot name an infrastructure cause ({note})" in text
    assert "slow predictions concentrated in 14:00-15:00 UTC (100% of slow against 4% of fast" in text
    assert "nothing can be said of the infrastructure. What distinguished them" in headline(
        [], 5, 0, 1, [], [BATCHES]
    )
