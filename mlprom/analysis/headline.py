"""The report's headline: one sentence an on-call engineer can act on, claiming no more than the test.

Pure: it reads the ranked suspects and what the test could resolve (analysis/suspects.py `Ranking`),
and, when no infrastructure series is named, what did distinguish the slow predictions
(analysis/distinguish.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlprom.analysis.distinguish import Distinction
from mlprom.analysis.suspects import Suspect

FACTORS_SAID = 2  # distinguishing factors named in the headline; the report's section has every one


def _series(suspect: Suspect) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(suspect.labels.items()))
    return f"{suspect.metric}{{{labels}}}" if labels else suspect.metric


def _lead(seconds: float) -> str:
    return "at the same time" if seconds <= 0 else f"{seconds:g} s before"


def _share(value: float) -> str:
    return f"{100 * value:.0f}%"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _phrase(d: Distinction) -> str:
    """One distinguishing factor as a clause: what differed, the two sides' values and the AUC."""
    evidence = f"AUC {d.auc:.2f}, {d.slow_events} slow and {d.fast_events} fast events"
    higher = d.auc >= 0.5
    if d.factor == "rows":
        size = "larger" if higher else "smaller"
        return (
            f"slow predictions were {size} batches (median {_number(d.slow)} rows against "
            f"{_number(d.fast)}; {evidence})"
        )
    if d.factor == "input":
        more = "higher" if higher else "lower"
        return (
            f'slow predictions had {more} input "{d.name}" (median {_number(d.slow)} against '
            f"{_number(d.fast)}; {evidence})"
        )
    of = "model version " + f'"{d.name}"' if d.factor == "model_version" else f"{d.name} UTC"
    where = "were more often" if d.factor == "model_version" else "concentrated in"
    if not higher:
        where = "were less often" if d.factor == "model_version" else "avoided"
    return f"slow predictions {where} {of} ({_share(d.slow)} of slow against {_share(d.fast)} of fast; {evidence})"


def _distinguished(distinctions: Sequence[Distinction]) -> str:
    """The clause added to a headline that names no infrastructure cause ("" when nothing distinguished).
    A model version less often among the slow is the other side of one more often: only the latter is said."""
    found = [d for d in distinctions if d.distinguishing and (d.factor != "model_version" or d.auc >= 0.5)]
    if not found:
        return ""
    said = "; ".join(_phrase(d) for d in found[:FACTORS_SAID])
    more = (
        f"; {len(found) - FACTORS_SAID} more in the report's distinguishing section"
        if len(found) > FACTORS_SAID
        else ""
    )
    return f" What distinguished them: {said}{more}."


def headline(
    suspects: Sequence[Suspect],
    slow: int,
    joined: int,
    episodes: int,
    notes: Sequence[str],
    distinctions: Sequence[Distinction] = (),
) -> str:
    """What the date shows: the infra cause the test names, or that none moved with the slow
    predictions, or why the date cannot say (no slow prediction, no infra joined, too few episodes);
    without an infra cause, followed by what distinguished the slow predictions, if anything did."""
    if slow == 0:
        return "No slow predictions: nothing to explain."
    other = _distinguished(distinctions)
    if joined == 0:
        return (
            "No infrastructure value joined the predictions: nothing can be said of the infrastructure."
            + other
        )
    causes = [s for s in suspects if s.kind == "infra" and s.role == "cause" and s.significant]
    spread = f"{slow} slow prediction(s) in {episodes} episode(s)"
    if causes:
        top = causes[0]
        moved = "rose" if top.direction != "fall" else "fell"
        more = f"; {len(causes) - 1} more series moved with them" if len(causes) > 1 else ""
        q = f", q = {top.q_value:.2g}" if top.q_value is not None else ""
        return f"{spread}: {_series(top)} {moved} {_lead(top.lag_seconds)} ({top.effect:+.1f} σ{q}){more}."
    if notes:
        return f"{spread}: the date cannot name an infrastructure cause ({notes[0]}).{other}"
    return f"{spread}: no infrastructure series moved with the slow predictions.{other}"
