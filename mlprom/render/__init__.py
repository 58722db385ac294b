"""Result dataclass -> text, by format name: table (rich), json (stable), markdown (for CI comments), html.

Every result has `to_dict()` (the JSON form). `table` and `markdown` dispatch on the result type
(functools.singledispatch in render/table.py and render/markdown.py, registered by the modules in
render/views/), with a generic key/value fallback. `html` (correlation reports only) lives in
render/html/ and is imported only when asked for, as is the PNG of `--assets` (render/picture.py).

Strings from data (labels, query and model names, keys, URLs, error texts) are shown literally in
every format. For tables that is settled once, in render/literal.py, rather than at each call site: the console
interprets no markup (`[/id]`), no emoji codes (`:smile:`) and highlights nothing, and control
characters (ESC, line breaks, bidi overrides) are shown as escapes. Markdown escapes its own specials
(render/markdown.py); JSON is JSON.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from mlprom.render.files import write_atomically, write_bytes_atomically
from mlprom.render.literal import console as _console
from mlprom.render.literal import literal

if TYPE_CHECKING:
    from mlprom.config import Config

__all__ = ["FORMATS", "literal", "render", "render_text", "write_atomically", "write_bytes_atomically"]

FORMATS = ("table", "json", "markdown", "html")


def render(result: Any, fmt: str, *, config: Config | None = None, assets: str | None = None) -> None:
    """Write `result` to stdout in `fmt`."""
    if fmt in ("html", "markdown"):
        sys.stdout.write(render_text(result, fmt, config=config, assets=assets))
        sys.stdout.flush()
        return
    from mlprom.render.views import load_all

    load_all()
    if fmt == "json":
        from mlprom.render.json import write_json

        write_json(result)
    else:
        import os

        from mlprom.render.table import to_table

        # Off a terminal rich assumes 80 columns and squeezes tables; logs and pipes can take wider lines.
        width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
        _console(width).print(to_table(result))


def render_text(
    result: Any,
    fmt: str,
    *,
    config: Config | None = None,
    assets: str | None = None,
    out: str | None = None,
    model: str | None = None,
) -> str:
    """`result` in `fmt` as text, for stdout or for the file `out` (--out); a table is plain text 160 wide.

    `model` names the --assets PNG after that model too (`report --out DIR`: models share `assets`)."""
    if fmt == "html":
        from mlprom.render.html import to_html

        return to_html(result, config)
    from mlprom.render.views import load_all

    load_all()
    if fmt == "json":
        from mlprom.render.json import json_text

        return json_text(result)
    if fmt == "markdown":
        from mlprom.render.markdown import to_markdown

        text = to_markdown(result).rstrip("\n") + "\n"
        if assets is not None:
            import os

            from mlprom.render.picture import with_timeline_picture

            link_from = os.path.dirname(out) if out is not None else None
            text = with_timeline_picture(result, text, assets, link_from, model)
        return text
    import io

    from mlprom.render.table import to_table

    buffer = io.StringIO()
    _console(160, file=buffer).print(to_table(result))
    return buffer.getvalue()
