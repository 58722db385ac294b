"""render/directory.py: a model's file in `report --out DIR` is always DIR/<model>.<ext>, never a path
elsewhere, and DIR must be an existing directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlprom.errors import InputError
from mlprom.render.directory import EXTENSIONS, check_directory, model_path
from mlprom.render.picture import picture_name


@pytest.mark.parametrize(
    "name", ["..", ".", ".hidden", "a/b", "../etc", "a\\b", "", "-rf", "a b", "a\nb", "x" * 129, "é"]
)
def test_a_name_that_could_leave_the_directory_or_hide_is_no_model_name(name: str) -> None:
    with pytest.raises(InputError, match="model name"):
        model_path("site", name, "html")


@pytest.mark.parametrize(("fmt", "suffix"), [("html", ".html"), ("markdown", ".md"), ("json", ".json")])
def test_each_model_gets_its_file_directly_in_the_directory(fmt: str, suffix: str) -> None:
    path = model_path("site", "churn.v2_a-1", fmt)
    assert path == os.path.join("site", "churn.v2_a-1" + suffix)
    assert os.path.dirname(path) == "site" and EXTENSIONS[fmt] == suffix
    longest = model_path("site", "a" * 128, fmt)  # within any file system's 255-byte name
    assert len(os.path.basename(longest)) <= 255


def test_the_directory_must_exist_and_be_one(tmp_path: Path) -> None:
    check_directory(str(tmp_path), "html")
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    check_directory(str(tmp_path / "link"), "json")  # a symlink to a directory is the directory
    (tmp_path / "f.html").write_text("x")
    with pytest.raises(InputError, match=r"f\.html is not a directory"):
        check_directory(str(tmp_path / "f.html"), "html")
    with pytest.raises(InputError, match="does not exist"):
        check_directory(str(tmp_path / "no" / "site"), "html")
    assert not (tmp_path / "no").exists()
    with pytest.raises(InputError, match="not table"):
        check_directory(str(tmp_path), "table")


def test_a_models_picture_carries_its_name_and_one_model_keeps_todays_name() -> None:
    document = {"date": "2026-11-20", "model": "churn"}
    assert picture_name(document) == "timeline-2026-11-20.png"
    assert picture_name(document, "churn") == "timeline-churn-2026-11-20.png"
    assert picture_name(document, "fraud") != picture_name(document, "churn")
