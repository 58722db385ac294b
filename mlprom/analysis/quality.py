"""Model quality metrics over plain sequences: classification (accuracy, precision, recall, f1), regression.

Pure functions and a running accumulator; no I/O, no numpy, so they are tested with plain lists.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Literal

from mlprom.analysis.thresholds import Levels, crossed

Task = Literal["classification", "regression"]

# Integer labels with at most this many distinct values are taken as classes, not quantities.
MAX_CLASSES_FOR_AUTO = 20

OUTPUTS_CAP = 1000  # numeric outputs kept per event: enough for drift statistics, bounded in size

# Labels that mean "the positive class" when a binary problem has them.
_POSITIVE_NAMES = ("1", "true", "yes", "y", "positive", "pos")


def is_missing(value: Any) -> bool:
    """None, NaN or an empty string: a row without a label, left out of quality metrics."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip() == ""
    return False


def _is_real(value: Any) -> bool:
    """Any real number a model or a label column may hold (numpy's included), NaN and infinities too:
    records.is_number is the stricter test of a stored measurement."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_integral(value: Any) -> bool:
    if isinstance(value, bool | Integral):
        return True
    return _is_real(value) and math.isfinite(float(value)) and float(value).is_integer()


def infer_task(labels: Iterable[Any]) -> Task:
    """classification when labels are non-numeric (or booleans) or few distinct integers, else regression."""
    seen: set[Any] = set()
    any_label = False
    for label in labels:
        if is_missing(label):
            continue
        any_label = True
        if isinstance(label, bool) or not _is_real(label):
            return "classification"
        if not _is_integral(label):
            return "regression"
        seen.add(float(label))
    if not any_label:
        return "classification"
    return "classification" if len(seen) <= MAX_CLASSES_FOR_AUTO else "regression"


def normalize_label(value: Any) -> Hashable:
    """A comparable form: 1, 1.0, True and numpy's 1 are one class; other values compare as text."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if _is_real(value):
        return float(value)
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return 1.0 if text.lower() == "true" else 0.0
    try:
        number = float(text)
    except ValueError:
        return text
    # "1" in a JSON file and 1 from the model are the same class.
    return number if math.isfinite(number) else text


def positive_label(labels: Iterable[Hashable]) -> Hashable | None:
    """The positive class of a binary problem (normalized labels), or None when there are more than two."""
    distinct = sorted(set(labels), key=lambda v: (1, v) if isinstance(v, str) else (0, v))
    if not distinct or len(distinct) > 2:
        return None
    for value in distinct:
        if value == 1.0 or (isinstance(value, str) and value.lower() in _POSITIVE_NAMES):
            return value
    # Neither looks positive: the larger one, as scikit-learn's pos_label=1 would be for {0, 1}.
    return distinct[-1]


def _pairs(y_true: Sequence[Any], y_pred: Sequence[Any]) -> list[tuple[Any, Any]]:
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    return [(t, p) for t, p in zip(y_true, y_pred, strict=True) if not is_missing(t)]


@dataclass
class QualityAccumulator:
    """Running quality over many batches; `add` returns one batch's metrics, `summary` the whole run's."""

    task: Task
    positive: Hashable | None = None  # fixed positive class; else inferred from every label seen
    count: int = 0
    abs_error: float = 0.0
    sq_error: float = 0.0
    skipped: int = 0  # regression rows whose prediction was not a number
    # (label, prediction) -> rows: bounded by the classes, not the rows, so a long input costs no memory.
    confusion: Counter[tuple[Hashable, Hashable]] = field(default_factory=Counter)

    def add(self, y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
        batch = QualityAccumulator(self.task, self.positive)
        batch._consume(_pairs(y_true, y_pred))
        self.count += batch.count
        self.abs_error += batch.abs_error
        self.sq_error += batch.sq_error
        self.skipped += batch.skipped
        self.confusion.update(batch.confusion)
        # A batch may hold one class only: its binary metrics use the run's positive class.
        return batch.metrics(self._positive())

    def _classes(self) -> set[Hashable]:
        return {v for pair in self.confusion for v in pair}

    def _positive(self) -> Hashable | None:
        return self.positive if self.positive is not None else positive_label(self._classes())

    def _consume(self, pairs: list[tuple[Any, Any]]) -> None:
        if self.task == "classification":
            for t, p in pairs:
                self.confusion[(normalize_label(t), normalize_label(p))] += 1
                self.count += 1
            return
        for t, p in pairs:
            try:
                err = float(p) - float(t)
            except (TypeError, ValueError):
                self.skipped += 1
                continue
            if not math.isfinite(err):
                self.skipped += 1
                continue
            self.count += 1
            self.abs_error += abs(err)
            self.sq_error += err * err

    def metrics(self, positive: Hashable | None = None) -> dict[str, float]:
        if self.count == 0:
            return {}
        if self.task == "regression":
            mse = self.sq_error / self.count
            # loss is the mean squared error, the usual training loss of a regressor. Errors of 1e200
            # square past a double: a metric that overflowed is left out (an event holding inf would be
            # refused whole), the others are kept.
            metrics = {"mae": self.abs_error / self.count, "rmse": math.sqrt(mse), "loss": mse}
            return {name: value for name, value in metrics.items() if math.isfinite(value)}
        correct = sum(n for (t, p), n in self.confusion.items() if t == p)
        accuracy = correct / self.count
        # Predictions are labels, not probabilities, so the loss is the 0-1 loss (= error rate).
        out = {"accuracy": accuracy, "error_rate": 1.0 - accuracy, "loss": 1.0 - accuracy}
        if positive is not None and len(self._classes() | {positive}) <= 2:
            out.update(binary_metrics(self.confusion.items(), positive))
        return out

    def summary(self) -> dict[str, float]:
        return self.metrics(self._positive())


def binary_metrics(
    confusion: Iterable[tuple[tuple[Hashable, Hashable], int]], positive: Hashable
) -> dict[str, float]:
    """precision, recall and f1 of the positive class; 0.0 where a denominator is empty (as scikit-learn)."""
    tp = fp = fn = 0
    for (t, p), n in confusion:
        if p == positive:
            if t == positive:
                tp += n
            else:
                fp += n
        elif t == positive:
            fn += n
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def quality_metrics(
    y_true: Sequence[Any], y_pred: Sequence[Any], task: Task | Literal["auto"] = "auto"
) -> dict[str, float]:
    """One-shot metrics of predictions against labels (rows without a label are left out)."""
    resolved: Task = infer_task(y_true) if task == "auto" else task
    acc = QualityAccumulator(resolved)
    acc.add(y_true, y_pred)
    return acc.summary()


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of a non-empty sequence; q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def numeric_outputs(values: list[Any], cap: int = OUTPUTS_CAP) -> tuple[float, ...] | None:
    """Finite numbers among the first `cap` outputs, or None when outputs are not numbers (class names)."""
    out: list[float] = []
    for value in values[:cap]:
        if isinstance(value, bool):
            out.append(float(value))
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if math.isfinite(number):
            out.append(number)
    return tuple(out)


@dataclass(frozen=True)
class QualityVerdict:
    """A quality metric judged over its window: the window's value and the level it crossed."""

    severity: str
    value: float  # the row-weighted mean over the window
    threshold: float
    direction: str
    rows: int  # the rows of the batches the value rests on
    events: int  # the recorded batches (events) it rests on
    first: float  # unix seconds of the window's first and last event
    last: float
    run_id: str | None  # the MLflow run of every event of the window, None when several (or none)


class QualityWindow:
    """One quality metric over a window of batches (correlate: the whole date), judged once at its end.

    A batch's value weighs its rows times the batches its event stands for (1 for a batch recorded because
    it was slow, 1/sample_rate for a sampled fast one), so the mean estimates the metric over every row
    the window's captures scored, not over the slow batches that make most of the events. For accuracy,
    error rate and the 0-1 or squared loss that is the window's metric itself; for ratios of other counts
    (precision, recall, f1) and for rmse it is the mean of the batches' values.
    """

    __slots__ = ("levels", "total", "weight", "rows", "events", "first", "last", "runs")

    def __init__(self, levels: Levels) -> None:
        self.levels = levels
        self.total = 0.0
        self.weight = 0.0
        self.rows = 0
        self.events = 0
        self.first = math.inf
        self.last = -math.inf
        self.runs: set[str | None] = set()  # at most two kept: one run, or several

    def add_many(
        self,
        values: Sequence[float],
        times: Sequence[float],
        rows: Sequence[int],
        stands_for: Sequence[float],
        run_ids: Sequence[str | None],
    ) -> None:
        """Parallel columns of events; NaN (no such metric in the event) is skipped. An event without a
        row count counts as one row."""
        for value, at, n, share, run in zip(values, times, rows, stands_for, run_ids, strict=True):
            if value != value or not math.isfinite(value):
                continue
            n = n if n > 0 else 1
            self.total += value * n * share
            self.weight += n * share
            self.rows += n
            self.events += 1
            self.first = min(self.first, at)
            self.last = max(self.last, at)
            if len(self.runs) < 2:
                self.runs.add(run)

    def verdict(self) -> QualityVerdict | None:
        """The window's value against the levels; None when it crossed none (or the window is empty)."""
        if not self.events or self.weight <= 0:
            return None
        value = self.total / self.weight
        levels = self.levels
        level = crossed(value, levels.warning, levels.critical, levels.direction)
        if level is None:
            return None
        (run,) = self.runs if len(self.runs) == 1 else (None,)
        return QualityVerdict(
            level[0], value, level[1], levels.direction, self.rows, self.events, self.first, self.last, run
        )
