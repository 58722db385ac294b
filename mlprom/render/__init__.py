"""Result dataclass -> text, by format name: table (rich), json (stable), markdown (for CI comments).

Every result has `to_dict()` (the JSON form). `table` and `markdown` dispatch on the result type
(functools.singledispatch in render/table.py and render/markdown.py, registered by the modules in
render/views/), with a generic key/value fallback.

Strings from data (labels, query and model names, keys, URLs, error texts) are shown literally in
every format. For tables that is settled here, once, rather than at each call site: the console
interprets no markup (`[/id]`), no emoji codes (`:smile:`) and highlights nothing, and control
characters (ESC, line breaks, bidi overrides) are shown as escapes. Markdown escapes its own specials
(render/markdown.py); JSON is JSON.
"""

from __future__ import annotations

import re
from typing import Any

FORMATS = ("table", "json", "markdown")

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


def _console(width: int | None) -> Any:
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

    return LiteralConsole(soft_wrap=True, width=width, markup=False, emoji=False, highlight=False)


def render(result: Any, fmt: str) -> None:
    """Write `result` to stdout in `fmt`."""
    from mlprom.render.views import load_all

    load_all()
    if fmt == "json":
        from mlprom.render.json import write_json

        write_json(result)
    elif fmt == "markdown":
        import sys

        from mlprom.render.markdown import to_markdown

        sys.stdout.write(to_markdown(result).rstrip("\n") + "\n")
    else:
        import os
        import sys

        from mlprom.render.table import to_table

        # Off a terminal rich assumes 80 columns and squeezes tables; logs and pipes can take wider lines.
        width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
        _console(width).print(to_table(result))
