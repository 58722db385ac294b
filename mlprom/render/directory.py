"""`report --out DIR` with several models: each model's report in `DIR/<model>.<ext>`, each written as
`--out FILE` writes one (render/files.py: whole or not at all, never over a symlink or a non-regular file).

The file name is the model's name, which `check_model_name` already confines to letters, digits, '.',
'_' and '-', starting with a letter or digit: no '/', no '..', no hidden file, no name of an option.
DIR must exist: a mistyped path in a cron line is an error, not a new directory (docs/report.md).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlprom.config import Config

# The formats a directory takes, and the suffix of each model's file.
EXTENSIONS = {"html": ".html", "markdown": ".md", "json": ".json"}


def check_directory(path: str, fmt: str) -> None:
    """InputError (exit 2) naming `path` unless it is an existing directory (a symlink to one counts) and
    `fmt` is a format written one file per model."""
    from mlprom.errors import InputError

    if fmt not in EXTENSIONS:
        raise InputError(
            f"--out {path} with several models writes one file per model: -o html, markdown or json, not {fmt}"
        )
    if not os.path.isdir(path):
        what = "is not a directory" if os.path.lexists(path) else "does not exist"
        raise InputError(
            f"--out {path} {what}: with several models --out names an existing directory "
            "(one file per model, MODEL.html, .md or .json)"
        )


def model_path(directory: str, model: str, fmt: str) -> str:
    """`directory/<model><ext>`; InputError for a name that is not a model name (never a path)."""
    from mlprom.config.schema import check_model_name
    from mlprom.errors import InputError

    try:
        check_model_name(model)
    except ValueError as exc:
        raise InputError(f"--out {directory}: {exc}") from None
    return os.path.join(directory, model + EXTENSIONS[fmt])


def write_model_report(
    directory: str, model: str, result: Any, fmt: str, *, config: Config | None, assets: str | None
) -> str:
    """Render `result` in `fmt` into `directory/<model><ext>` atomically; the path written.

    With `assets` (markdown) the model's PNG is `timeline-<model>-D.png`, so models sharing one assets
    directory never overwrite each other's, and the link is relative to the model's file.
    """
    from mlprom.render import render_text
    from mlprom.render.files import write_atomically

    path = model_path(directory, model, fmt)
    write_atomically(path, render_text(result, fmt, config=config, assets=assets, out=path, model=model))
    return path
