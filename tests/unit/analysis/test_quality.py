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
