"""The HTML renderer and matplotlib are imported only for the output that needs them.

Each case runs the CLI in a fresh interpreter and lists the modules it imported.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import orjson
import pytest

from mlprom import layout
from mlprom.storage.local import LocalStorage
from tests.fixtures.imports import cli_imports
from tests.fixtures.report_documents import DAY, full_document

HTML = "mlprom.render.html"
PICTURE = "mlprom.render.picture"


def modules_for(argv: list[str]) -> set[str]:
    code, modules, stderr = cli_imports(argv)
    assert code in (0, None), stderr
    return modules


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config()
    key = layout.report_key(date.fromisoformat(DAY), "default")
    LocalStorage(path.parent / "data").put_bytes(key, orjson.dumps(full_document()))
    return path


@pytest.mark.parametrize("argv", [["--help"], ["report", "--help"], ["correlate", "--help"]])
def test_help_imports_neither_the_html_renderer_nor_matplotlib(argv: list[str]) -> None:
    loaded = modules_for(argv)
    assert HTML not in loaded and PICTURE not in loaded and "matplotlib" not in loaded


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_text_formats_import_neither_the_html_renderer_nor_matplotlib(config: Path, fmt: str) -> None:
    loaded = modules_for(["-c", str(config), "-o", fmt, "report", "--date", DAY])
    assert "mlprom.stages.report" in loaded  # the probe does see what the command imported
    assert HTML not in loaded and PICTURE not in loaded and "matplotlib" not in loaded


def test_html_imports_its_renderer_but_no_plotting_library(config: Path) -> None:
    loaded = modules_for(["-c", str(config), "-o", "html", "report", "--date", DAY])
    assert HTML in loaded and "mlprom.render.html.svg" in loaded
    assert "matplotlib" not in loaded and "numpy" not in loaded


def test_only_markdown_with_assets_imports_matplotlib(config: Path, tmp_path: Path) -> None:
    argv = ["-c", str(config), "-o", "markdown", "report", "--date", DAY, "--assets", str(tmp_path / "a")]
    loaded = modules_for(argv)
    assert "matplotlib" in loaded and PICTURE in loaded
    assert HTML not in loaded
