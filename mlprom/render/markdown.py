"""Markdown for CI comments; one registration per result type."""

from __future__ import annotations

from functools import singledispatch
from typing import Any


def escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@singledispatch
def to_markdown(result: Any) -> str:
    """Fallback: a two-column table of the result's to_dict()."""
    lines = ["| field | value |", "| --- | --- |"]
    for key, value in result.to_dict().items():
        lines.append(f"| {escape(key)} | {escape(value)} |")
    return "\n".join(lines)
