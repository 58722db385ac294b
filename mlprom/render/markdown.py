"""Markdown for CI comments; one registration per result type.

Data strings go through `escape`: Markdown specials are backslash-escaped and HTML specials become
entities, so `[slug]`, `*x*`, `<b>`, `|` and line breaks show as typed, never as links, emphasis,
tags, table columns or new lines.
"""

from __future__ import annotations

import re
from functools import singledispatch
from typing import Any

from mlprom.render.literal import literal

# Intraword underscores (cpu_usage) cannot open emphasis in CommonMark, so they stay unescaped.
# Parentheses, braces, '#' and '!' only mean something at a line start or after an (escaped) ']'.
_SPECIALS = re.compile(r"[\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def escape(text: Any) -> str:
    """A data string as literal Markdown text, fit for a table cell (one line, no unescaped `|`)."""
    shown = literal(text)  # line breaks and control characters as visible escapes first
    shown = _SPECIALS.sub(lambda m: "\\" + m.group(), shown)
    return "".join(_HTML.get(c, c) for c in shown)


def fence(body: str) -> str:
    """A code fence longer than any run of backticks in `body`, so the body cannot end it early."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


@singledispatch
def to_markdown(result: Any) -> str:
    """Fallback: a two-column table of the result's to_dict()."""
    lines = ["| field | value |", "| --- | --- |"]
    for key, value in result.to_dict().items():
        lines.append(f"| {escape(key)} | {escape(value)} |")
    return "\n".join(lines)
