"""`mlprom report --out DIR` with several models: one file per model in an existing directory, each the
bytes a single-model `report --out FILE` writes, each written safely, one model's failure its own."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import orjson
import pytest

from tests.integration.test_fleet import DAY, _fleet, _invoke, _rows, _store, _write_config

pytestmark = pytest.mark.integration


def _correlated(tmp_path: Path, tag: str, count: int = 3) -> tuple[Path, list[str]]:
    """A shared store with `count` models' stored reports of DAY (correlate --all-models over synthetic events)."""
    models = _fleet(tag)[:count]
    path = _write_config(tmp_path)
    _store(path, models)
    done = _invoke(path, "correlate", "--date", DAY.isoformat(), "--all-models", "--fail-on", "never")
    assert done.exit_code == 0, done.output
    return path, models


def _site(tmp_path: Path, name: str = "site") -> Path:
    site = tmp_path / name
    site.mkdir()
    return site


def test_all_models_out_dir_writes_each_models_page_the_same_bytes_as_one_model_writes(
    tmp_path: Path,
) -> None:
    path, models = _correlated(tmp_path, "dir")
    site = _site(tmp_path)

    args = ["report", "--date", DAY.isoformat(), "--all-models", "--out", str(site)]

    done = _invoke(path, *args, "--jobs", "2")

    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in site.iterdir()) == sorted(f"{m}.html" for m in models)  # nothing else
    quiet = _invoke(path, "-q", *args)  # the files are the result: written with -q, nothing printed
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    rows = _rows(done.stdout, models)
    for model in models:
        page = (site / f"{model}.html").read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>"), page[:80]
        assert model in page and not any(other in page for other in models if other != model)
        assert f"wrote {site / model}.html" in rows[model], rows[model]
        alone = tmp_path / f"alone-{model}.html"
        single = _invoke(path, "report", "--date", DAY.isoformat(), "--model", model, "--out", str(alone))
        assert single.exit_code == 0, single.output
        assert (site / f"{model}.html").read_bytes() == alone.read_bytes()


def test_model_flags_out_dir_json_names_each_file_in_its_document(tmp_path: Path) -> None:
    path, models = _correlated(tmp_path, "json", 2)
    site = _site(tmp_path)
    flags = [arg for model in models for arg in ("--model", model)]

    done = _invoke(path, "-o", "json", "report", "--date", DAY.isoformat(), *flags, "--out", str(site))

    assert done.exit_code == 0, done.output
    documents = orjson.loads(done.stdout)
    assert [(d["model"], d["exit_code"], d["out"]) for d in documents] == [
        (m, 0, str(site / f"{m}.json")) for m in models
    ]
    assert sorted(p.name for p in site.iterdir()) == sorted(f"{m}.json" for m in models)
    for model in models:
        alone = tmp_path / f"alone-{model}.json"
        assert (
            _invoke(
                path, "report", "--date", DAY.isoformat(), "--model", model, "--out", str(alone)
            ).exit_code
            == 0
        )
        assert (site / f"{model}.json").read_bytes() == alone.read_bytes()
        assert orjson.loads(alone.read_bytes())["model"] == model


def test_a_model_without_a_report_is_exit_4_and_the_others_file_is_still_written(tmp_path: Path) -> None:
    path, (model,) = _correlated(tmp_path, "ghost", 1)
    ghost = f"absent-{uuid.uuid4().hex[:6]}"
    site = _site(tmp_path)

    done = _invoke(
        path, "report", "--date", DAY.isoformat(), "--model", ghost, "--model", model, "--out", str(site)
    )

    assert done.exit_code == 4, done.output
    assert [p.name for p in site.iterdir()] == [f"{model}.html"]
    rows = _rows(done.stdout, [model, ghost])
    assert " 4 │ no_data " in rows[ghost] and " 0 │ " in rows[model] and "wrote " in rows[model]
    assert f"mlprom: error: model {ghost}: no report for {DAY}" in done.stderr


def test_a_symlink_at_a_models_file_is_not_replaced_and_the_other_model_is_written(tmp_path: Path) -> None:
    path, (first, second) = _correlated(tmp_path, "link", 2)
    site = _site(tmp_path)
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (site / f"{first}.html").symlink_to(target)

    done = _invoke(
        path, "report", "--date", DAY.isoformat(), "--model", first, "--model", second, "--out", str(site)
    )

    assert done.exit_code == 2, done.output
    assert os.readlink(site / f"{first}.html") == str(target) and target.read_text() == "keep me\n"
    assert second in (site / f"{second}.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in site.iterdir()) == sorted([f"{first}.html", f"{second}.html"])
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("mlprom: error:")]
    assert f"model {first}: cannot write {site / first}.html: is a symbolic link" in line


@pytest.mark.parametrize("kind", ["file", "missing"])
def test_out_that_is_no_existing_directory_with_several_models_is_exit_2_naming_it(
    tmp_path: Path, kind: str
) -> None:
    path, models = _correlated(tmp_path, "notdir", 2)
    out = tmp_path / "new" / "site"  # neither it nor its parent is created
    if kind == "file":
        out = tmp_path / "report.html"
        out.write_text("old\n")

    done = _invoke(path, "report", "--date", DAY.isoformat(), "--all-models", "--out", str(out))

    assert done.exit_code == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"--out {out} " in line and ("is not a directory" if kind == "file" else "does not exist") in line
    if kind == "file":
        assert out.read_text() == "old\n"
    else:
        assert not (tmp_path / "new").exists()


def test_several_models_without_a_directory_or_with_a_table_is_exit_2(tmp_path: Path) -> None:
    path, _ = _correlated(tmp_path, "usage", 2)
    site = _site(tmp_path)
    html = _invoke(path, "-o", "html", "report", "--date", DAY.isoformat(), "--all-models")
    assert html.exit_code == 2 and "--out DIR" in html.stderr and html.stdout == ""
    table = _invoke(
        path, "-o", "table", "report", "--date", DAY.isoformat(), "--all-models", "--out", str(site)
    )
    assert table.exit_code == 2 and "not table" in table.stderr and list(site.iterdir()) == []


def test_markdown_out_dir_with_assets_gives_each_model_its_own_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path, models = _correlated(tmp_path, "md", 2)
    site, assets = _site(tmp_path), tmp_path / "site" / "img"
    args = ["-o", "markdown", "report", "--date", DAY.isoformat(), "--all-models"]

    done = _invoke(path, *args, "--out", str(site), "--assets", str(assets), "--jobs", "2")

    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in assets.iterdir()) == sorted(f"timeline-{m}-{DAY}.png" for m in models)
    for model in models:
        text = (site / f"{model}.md").read_text(encoding="utf-8")
        assert f"(img/timeline-{model}-{DAY}.png)" in text, text[:400]
        assert (assets / f"timeline-{model}-{DAY}.png").read_bytes().startswith(b"\x89PNG")
