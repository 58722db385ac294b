"""Quality metrics over plain lists: classification, regression, task inference, the running accumulator."""

from __future__ import annotations

import math

import pytest

from mlprom.analysis.quality import (
    QualityAccumulator,
    infer_task,
    numeric_outputs,
    percentile,
    positive_label,
    quality_metrics,
)


def test_binary_classification_metrics_match_a_hand_count() -> None:
    y_true = [1, 0, 1, 1, 0, 0, 1, 0]
    y_pred = [1, 0, 0, 1, 1, 0, 1, 0]  # tp 3, fp 1, fn 1, tn 3
    m = quality_metrics(y_true, y_pred)
    assert m["accuracy"] == 0.75 and m["error_rate"] == 0.25 and m["loss"] == 0.25
    assert m["precision"] == 0.75 and m["recall"] == 0.75 and m["f1"] == 0.75


def test_string_and_numeric_labels_of_one_class_compare_equal() -> None:
    assert quality_metrics(["1", "0", "true"], [1, 0.0, True])["accuracy"] == 1.0


def test_multiclass_has_accuracy_but_no_binary_metrics() -> None:
    m = quality_metrics(["a", "b", "c", "a"], ["a", "b", "a", "a"])
    assert m["accuracy"] == 0.75
    assert "precision" not in m


def test_regression_metrics_and_loss_is_mse() -> None:
    m = quality_metrics([1.5, 2.5, 3.5], [1.5, 3.5, 1.5], task="regression")
    assert m["mae"] == pytest.approx(1.0)
    assert m["loss"] == pytest.approx(5 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(5 / 3))


def test_rows_without_a_label_are_left_out() -> None:
    assert quality_metrics([1, None, float("nan"), 0], [1, 0, 0, 1], task="classification")["accuracy"] == 0.5


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        (["cat", "dog"], "classification"),
        ([0, 1, 1, 0], "classification"),
        ([True, False], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_infer_task(labels: list[object], task: str) -> None:
    assert infer_task(labels) == task


def test_positive_label_prefers_one_and_yes() -> None:
    assert positive_label([0.0, 1.0]) == 1.0
    assert positive_label(["no", "yes"]) == "yes"
    assert positive_label(["a", "b", "c"]) is None


def test_accumulator_scores_a_one_class_batch_with_the_runs_positive_class() -> None:
    acc = QualityAccumulator("classification")
    acc.add([1, 0], [1, 0])
    batch = acc.add([0, 0], [0, 1])
    assert batch["precision"] == 0.0 and batch["accuracy"] == 0.5
    total = acc.summary()
    assert total["accuracy"] == 0.75 and total["precision"] == 0.5 and total["recall"] == 1.0


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0


def test_numeric_outputs_are_capped_and_class_names_give_none() -> None:
    assert numeric_outputs(list(range(5)), cap=3) == (0.0, 1.0, 2.0)
    assert numeric_outputs(["cat", "dog"]) is None


# ---------------------------------------------------------------- the quality window


def test_window_is_row_weighted_and_a_sampled_batch_stands_for_its_share() -> None:
    from mlprom.analysis.quality import QualityWindow
    from mlprom.analysis.thresholds import ThresholdLevels

    window = QualityWindow(ThresholdLevels(warning=0.9, critical=0.5, direction="below"))
    # A slow batch of 5 rows at 0.4 (itself), a sampled fast one of 10 rows at 0.95 standing for 4 batches.
    window.add_many(
        [0.4, 0.95, math.nan], [100.0, 200.0, 300.0], [5, 10, 5], [1.0, 4.0, 1.0], ["r", "r", "r"]
    )
    verdict = window.verdict()
    assert verdict is not None
    assert verdict.value == pytest.approx((0.4 * 5 + 0.95 * 10 * 4) / (5 + 40))
    assert (verdict.severity, verdict.threshold, verdict.rows, verdict.events) == ("warning", 0.9, 15, 2)
    assert (verdict.first, verdict.last, verdict.run_id) == (100.0, 200.0, "r")


def test_window_past_no_level_is_no_verdict_though_a_batch_was() -> None:
    from mlprom.analysis.quality import QualityWindow
    from mlprom.analysis.thresholds import ThresholdLevels

    window = QualityWindow(ThresholdLevels(critical=0.93, direction="below"))
    values = [0.4] + [1.0] * 9  # one batch of five at 0.4, nine perfect: 0.94 over the 50 rows
    window.add_many(values, [float(i) for i in range(10)], [5] * 10, [1.0] * 10, [None] * 10)
    assert window.verdict() is None
    window.add_many([0.0], [11.0], [0], [1.0], ["other"])  # no row count: one row
    verdict = window.verdict()
    assert verdict is not None and verdict.rows == 51 and verdict.run_id is None
    assert verdict.value == pytest.approx(47 / 51)
