"""Hostile inputs for the property suite, and the property every run must keep.

The property: the exit code is in the contract's set, there is no traceback (and no "internal error":
that is a bug met), the planted secret appears in no output, and what was stored before is still there,
byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

SECRET = "Zq9PlantedSecret7731"
CONTRACT_CODES = {0, 1, 2, 3, 4}
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connection refused at once


def examples(n: int) -> int:
    return n * int(os.environ.get("MLPROM_HYPOTHESIS_SCALE", "1"))


# ---------------------------------------------------------------- hostile scalars and JSON

HOSTILE_TEXT = [
    "",
    " ",
    "/api/[/id]",
    "[bold]x[/]",
    ":smile:",
    "<script>",
    "a|b",
    "\x1b[2J",
    "line\nbreak",
    "\x00",
    "\u202e",
    "𝔘𝔫𝔦",
    "2026-11-20T10:00:00",
    "2026-11-20T10:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "NaN",
    "+Inf",
    "1e999",
    "true",
    "null",
    "${HOME}",
    "../../etc/passwd",
]

texts = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=30))
numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**53 + 1]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def near(template: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid document with some fields replaced, dropped, or nested wrong: what real corruption looks like."""

    def mutate(draw: Any) -> Any:
        document = dict(template)
        for key in draw(st.lists(st.sampled_from(sorted(template)), max_size=3, unique=True)):
            choice = draw(st.integers(0, 2))
            if choice == 0:
                del document[key]
            elif choice == 1:
                document[key] = draw(json_values)
            else:
                document[key] = [document[key]]
        return document

    return st.composite(lambda draw: mutate(draw))()


# ---------------------------------------------------------------- the property


def assert_contract(code: int, output: str, *, allowed: set[int] = CONTRACT_CODES) -> None:
    assert code in allowed, output
    assert "Traceback" not in output, output
    assert "internal error" not in output, output  # the last-resort handler caught a bug
    assert SECRET not in output, output


def snapshot_files(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_kept(before: dict[str, bytes], after: dict[str, bytes], replaced: set[str] = frozenset()) -> None:
    """Every object stored before is still there, byte-identical (except those the run may replace)."""
    for key, body in before.items():
        if key in replaced:
            continue
        assert key in after, f"{key} was lost"
        assert after[key] == body, f"{key} was changed"
    for key in after:
        assert not Path(key).name.startswith(".tmp-"), f"temporary file left behind: {key}"
