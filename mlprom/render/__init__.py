"""Result dataclass -> text, by format name: table (rich), json (stable), markdown (for CI comments).

Every result has `to_dict()` (the JSON form). `table` and `markdown` dispatch on the result type
(functools.singledispatch in render/table.py and render/markdown.py, registered by the modules in
render/views/), with a generic key/value fallback.
"""

from __future__ import annotations

from typing import Any

FORMATS = ("table", "json", "markdown")


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

        from rich.console import Console

        from mlprom.render.table import to_table

        # Off a terminal rich assumes 80 columns and squeezes tables; logs and pipes can take wider lines.
        width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
        Console(soft_wrap=True, width=width).print(to_table(result))
