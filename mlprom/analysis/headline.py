"""The report's headline: one sentence an on-call engineer can act on, claiming no more than the test.

Pure: it reads the ranked suspects and what the test could resolve (analysis/suspects.py `Ranking`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlprom.analysis.suspects import Suspect


def _series(suspect: Suspect) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(suspect.labels.items()))
    return f"{suspect.metric}{{{labels}}}" if labels else suspect.metric


def _lead(seconds: float) -> str:
    return "at the same time" if seconds <= 0 else f"{seconds:g} s before"


def headline(
    suspects: Sequence[Suspect], slow: int, joined: int, episodes: int, notes: Sequence[str]
) -> str:
    """What the date shows: the infra cause the test names, or that none moved with the slow
    predictions, or why the date cannot say (no slow prediction, no infra joined, too few episodes)."""
    if slow == 0:
        return "No slow predictions: nothing to explain."
    if joined == 0:
        return "No infrastructure value joined the predictions: nothing can be said of the infrastructure."
    causes = [s for s in suspects if s.kind == "infra" and s.role == "cause" and s.significant]
    spread = f"{slow} slow prediction(s) in {episodes} episode(s)"
    if causes:
        top = causes[0]
        moved = "rose" if top.direction != "fall" else "fell"
        more = f"; {len(causes) - 1} more series moved with them" if len(causes) > 1 else ""
        q = f", q = {top.q_value:.2g}" if top.q_value is not None else ""
        return f"{spread}: {_series(top)} {moved} {_lead(top.lag_seconds)} ({top.effect:+.1f} σ{q}){more}."
    if notes:
        return f"{spread}: the date cannot name an infrastructure cause ({notes[0]})."
    return f"{spread}: no infrastructure series moved with the slow predictions."
