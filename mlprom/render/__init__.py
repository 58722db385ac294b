"""Result dataclass -> text, by format name: table (rich), json (stable), markdown (for CI comments), html.

Every result has `to_dict()` (the JSON form). `table` and `markdown` dispatch on the result type
(functools.singledispatch in render/table.py and render/markdown.py, registered by the modules in
render/views/), with a generic key/value fallback. `html` (correlation reports only) lives in
render/html/ and is imported only when asked for, as is the PNG of `--assets` (render/picture.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlprom.config import Config

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

        from rich.console import Console

        from mlprom.render.table import to_table

        # Off a terminal rich assumes 80 columns and squeezes tables; logs and pipes can take wider lines.
        width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
        Console(soft_wrap=True, width=width).print(to_table(result))


def render_text(
    result: Any, fmt: str, *, config: Config | None = None, assets: str | None = None, out: str | None = None
) -> str:
    """`result` in `fmt` as text, for stdout or for the file `out` (--out); a table is plain text 160 wide."""
    if fmt == "html":
        from mlprom.render.html import to_html

        return to_html(result, config)
    from mlprom.render.views import load_all

    load_all()
    if fmt == "json":
        from mlprom.render.json import dumps

        return dumps(result.to_dict()).decode() + "\n"
    if fmt == "markdown":
        from mlprom.render.markdown import to_markdown

        text = to_markdown(result).rstrip("\n") + "\n"
        if assets is not None:
            import os

            from mlprom.render.picture import with_timeline_picture

            link_from = os.path.dirname(out) if out is not None else None
            text = with_timeline_picture(result, text, assets, link_from)
        return text
    import io

    from rich.console import Console

    from mlprom.render.table import to_table

    buffer = io.StringIO()
    Console(file=buffer, soft_wrap=True, width=160).print(to_table(result))
    return buffer.getvalue()


def write_atomically(path: str, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically; see write_bytes_atomically."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same directory and a rename: a reader (a browser,
    a CI upload) sees the old file or the new one, never half of one. Raises InputError naming the path."""
    import os
    import tempfile

    from mlprom.errors import InputError

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix=".mlprom-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
