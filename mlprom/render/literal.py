"""Strings from data made safe to show: control characters as escapes, and a console that interprets nothing.

Every renderer shows labels, query and model names, keys, URLs and error texts literally; the table's
console is settled here, once, rather than at each call site.
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 control characters, DEL, and the bidi controls that reorder what a terminal shows.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def literal(text: Any) -> str:
    """A data string made safe to show on one line: control characters become visible escapes (\\n, \\x1b)."""
    return _CONTROLS.sub(_escape, str(text))


# In JSON text these can only sit inside strings, where a \uXXXX escape is the same character to a parser.
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def json_literal(document: str) -> str:
    """JSON text whose strings show control and bidi characters as \\u escapes, as the table shows them:
    the data parses back unchanged, and a terminal or an editor showing the text reorders nothing.

    (JSON encoders escape C0 controls already; DEL, C1, the bidi controls and the line and paragraph
    separators are legal raw in a JSON string.)"""
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


def console(width: int | None, file: Any = None) -> Any:
    from rich.console import Console
    from rich.segment import Segment

    class LiteralConsole(Console):
        """A Console for data: plain strings are never markup, emoji codes or highlighted, and no control
        character reaches the terminal, whichever renderable carried it."""

        def render_str(self, text: str, **kwargs: Any) -> Any:
            kwargs.update(markup=False, emoji=False, highlight=False)
            return super().render_str(literal(text), **kwargs)

        def render(self, renderable: Any, options: Any = None) -> Any:
            for segment in super().render(renderable, options):
                text = segment.text
                if segment.control is None and text != "\n" and _CONTROLS_BUT_NEWLINE.search(text):
                    yield Segment(_CONTROLS_BUT_NEWLINE.sub(_escape, text), segment.style)
                else:
                    yield segment

    return LiteralConsole(soft_wrap=True, width=width, file=file, markup=False, emoji=False, highlight=False)
