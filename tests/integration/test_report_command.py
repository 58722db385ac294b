"""`mlprom report` and `-o html` / `--assets` through the CLI, over a planted day in local storage."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

from examples.plant_day import PLANTED, config_yaml, write_day_events, write_snapshots
from mlprom import layout
from mlprom.cli import app
from mlprom.storage.local import LocalStorage
from tests.fixtures.html_check import parse_html
from tests.fixtures.report_documents import full_document

DAY = date(2026, 11, 20)
runner = CliRunner()


@pytest.fixture(scope="module")
def planted_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A planted day (disk_write_io on node-b rises with the slow periods), written once per module."""
    root = tmp_path_factory.mktemp("planted") / "data"
    storage = LocalStorage(root)
    write_snapshots(storage, DAY)
    write_day_events(storage, DAY, 6000)
    return root


@pytest.fixture
def planted(planted_data: Path, tmp_path: Path) -> Path:
    """A copy of the planted day for one test, and its config; returns the config's path."""
    shutil.copytree(planted_data, tmp_path / "data")
    config = tmp_path / "mlprom.yaml"
    config.write_text(config_yaml(str(tmp_path / "data")))
    return config


def invoke(config: Path, *args: str) -> Any:
    return runner.invoke(app, ["-c", str(config), *args])


def store(config_dir: Path, document: dict[str, Any]) -> None:
    LocalStorage(config_dir / "data").put_bytes(layout.report_key(DAY, "default"), orjson.dumps(document))


def headline(html: str) -> str:
    (p,) = [e for e in parse_html(html).iter("p") if e.attrs.get("id") == "headline"]
    return p.text


def test_correlate_html_names_the_planted_series_first(planted: Path) -> None:
    result = invoke(planted, "-o", "html", "correlate", "--date", DAY.isoformat())
    assert result.exit_code == 1, result.stderr  # the planted series crosses its critical threshold
    assert result.stdout.startswith("<!DOCTYPE html>") and result.stdout.endswith("</html>\n")
    metric, instance = PLANTED
    assert headline(result.stdout).startswith(f"prediction time rose with {metric} on {instance}: +")
    root = parse_html(result.stdout)
    suspects = [s for s in root.iter("section") if s.attrs.get("id") == "suspects"][0]
    first_row = suspects.iter("tr")[1]
    assert [td.text for td in first_row.iter("td")][1:3] == [metric, f'{{instance="{instance}", job="node"}}']


def test_report_renders_the_stored_report_without_recomputing(planted: Path, tmp_path: Path) -> None:
    assert invoke(planted, "correlate", "--date", DAY.isoformat()).exit_code == 1
    stored = (tmp_path / "data" / layout.report_key(DAY, "default")).read_bytes()
    # Events and snapshots gone: a recomputation would find nothing; the stored report is still there.
    for stage in ("model", "infra"):
        for path in sorted((tmp_path / "data" / stage).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()

    html = invoke(planted, "report", "--date", DAY.isoformat(), "-o", "html")
    as_json = invoke(planted, "-o", "json", "report", "--date", DAY.isoformat())

    assert html.exit_code == 0 and as_json.exit_code == 0, html.stderr + as_json.stderr
    assert orjson.loads(as_json.stdout) == orjson.loads(stored)
    assert headline(html.stdout).startswith(f"prediction time rose with {PLANTED[0]} on {PLANTED[1]}")


def test_report_json_keeps_fields_this_mlprom_does_not_know(write_config: Callable[..., Path]) -> None:
    config = write_config()
    document = full_document()
    document["made_by_a_newer_mlprom"] = {"anything": [1, 2]}
    store(config.parent, document)
    result = invoke(config, "report", "--date", DAY.isoformat(), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout) == document


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_report_table_and_markdown_match_what_correlate_printed(planted: Path, fmt: str) -> None:
    correlated = invoke(planted, "-o", fmt, "correlate", "--date", DAY.isoformat())
    reported = invoke(planted, "-o", fmt, "report", "--date", DAY.isoformat())
    assert reported.exit_code == 0, reported.stderr
    assert correlated.stdout.splitlines()[0] == reported.stdout.splitlines()[0]
    assert PLANTED[1] in reported.stdout and "Drift" in reported.stdout


def test_a_missing_report_is_exit_4_naming_where_it_looked(write_config: Callable[..., Path]) -> None:
    config = write_config()
    result = invoke(config, "report", "--date", DAY.isoformat(), "-o", "html")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert (
        "no report for 2026-11-20" in result.stderr
        and "reports/dt=2026-11-20/model=default/correlation.json" in result.stderr
    )
    assert "mlprom correlate --date 2026-11-20" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"date": "2026-11-20"}', b'{"status": "weird"}'])
def test_an_unreadable_report_is_exit_4_naming_its_key(
    write_config: Callable[..., Path], body: bytes
) -> None:
    config = write_config()
    LocalStorage(config.parent / "data").put_bytes(layout.report_key(DAY, "default"), body)
    result = invoke(config, "report", "--date", DAY.isoformat())
    assert result.exit_code == 4
    assert "correlation.json is unreadable" in result.stderr and "Traceback" not in result.stderr


def test_out_writes_the_file_atomically_and_prints_nothing_with_q(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config()
    store(config.parent, full_document())
    target = tmp_path / "site" / "report.html"
    target.parent.mkdir()
    target.write_text("the previous report")

    result = invoke(config, "-q", "report", "--date", DAY.isoformat(), "--out", str(target))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    written = target.read_text()
    assert written == invoke(config, "report", "--date", DAY.isoformat(), "-o", "html").stdout
    assert os.listdir(target.parent) == ["report.html"]  # no temp file left behind
    assert oct(target.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize(
    ("name", "first"), [("r.html", "<!DOCTYPE html>"), ("r.md", "## mlprom"), ("r.json", "{")]
)
def test_out_suffix_picks_the_format_when_o_is_not_given(
    write_config: Callable[..., Path], tmp_path: Path, name: str, first: str
) -> None:
    config = write_config()
    store(config.parent, full_document())
    result = invoke(config, "report", "--date", DAY.isoformat(), "--out", str(tmp_path / name))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / name).read_text().startswith(first)


def test_out_into_a_missing_directory_is_exit_2_and_creates_nothing(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config()
    store(config.parent, full_document())
    target = tmp_path / "absent" / "report.html"
    result = invoke(config, "report", "--date", DAY.isoformat(), "--out", str(target))
    assert result.exit_code == 2
    assert f"cannot write {target}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["capture-infra", "--at", "2026-11-20T10:00:00Z"],
        ["check"],
        ["alert", "--date", "2026-11-20", "--dry-run", "--allow-empty"],
        ["prune", "--keep-days", "3", "--dry-run"],
    ],
)
def test_html_is_refused_for_other_commands_before_they_run(
    write_config: Callable[..., Path], tmp_path: Path, argv: list[str]
) -> None:
    config = write_config({"prometheus": {"url": "http://127.0.0.1:9"}})
    result = invoke(config, *argv, "-o", "html")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"mlprom: error: -o html is for correlate and report only; {argv[0]} prints table, json or markdown"
    )
    assert not (tmp_path / "data").exists()  # nothing captured, nothing written


def test_assets_without_markdown_is_a_usage_error(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    result = invoke(
        config, "-o", "json", "report", "--date", DAY.isoformat(), "--assets", str(tmp_path / "a")
    )
    assert result.exit_code == 2 and "--assets goes with -o markdown" in result.stderr
    assert not (tmp_path / "a").exists()


def test_markdown_assets_writes_a_timeline_png_and_links_it(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config()
    store(config.parent, full_document())
    monkeypatch.chdir(tmp_path)

    result = invoke(config, "-o", "markdown", "report", "--date", DAY.isoformat(), "--assets", "ci-assets")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "## mlprom correlation 2026-11-20: **critical**"
    assert lines[2] == "![Timeline of churn on 2026-11-20 (UTC)](ci-assets/timeline-2026-11-20.png)"
    image = Image.open(tmp_path / "ci-assets" / "timeline-2026-11-20.png")
    assert image.format == "PNG" and image.width >= 800 and image.height >= 600
    # Not blank: a white page has no spread; drawn lines and bars have plenty.
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 20


def test_markdown_assets_for_a_report_without_timeline_says_so_and_writes_no_png(
    planted: Path, tmp_path: Path
) -> None:
    assert invoke(planted, "correlate", "--date", DAY.isoformat()).exit_code == 1
    document = orjson.loads((tmp_path / "data" / layout.report_key(DAY, "default")).read_bytes())
    document.pop("timeline", None)
    store(tmp_path, document)
    assets = tmp_path / "assets"
    result = invoke(planted, "-o", "markdown", "report", "--date", DAY.isoformat(), "--assets", str(assets))
    assert result.exit_code == 0, result.stderr
    assert "_No timeline in this report, so no picture" in result.stdout
    assert list(assets.iterdir()) == []  # the directory asked for exists, empty, so --out can go in it


def test_a_hostile_model_name_in_markdown_alt_text_cannot_break_the_link(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config()
    document = full_document()
    document["model"] = "x](javascript:alert(1)) ![y"
    store(config.parent, document)
    result = invoke(
        config, "-o", "markdown", "report", "--date", DAY.isoformat(), "--assets", str(tmp_path / "a")
    )
    assert result.exit_code == 0, result.stderr
    link = result.stdout.splitlines()[2]
    assert link == (
        f"![Timeline of x\\](javascript:alert(1)) !\\[y on 2026-11-20 (UTC)]({tmp_path}/a/timeline-2026-11-20.png)"
    )


def test_with_out_the_png_link_is_relative_to_the_markdown_file(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config()
    store(config.parent, full_document())
    monkeypatch.chdir(tmp_path)
    argv = [
        "-o",
        "markdown",
        "report",
        "--date",
        DAY.isoformat(),
        "--assets",
        "site/img",
        "--out",
        "site/summary.md",
    ]
    result = invoke(config, *argv)
    assert result.exit_code == 0, result.stderr
    lines = (tmp_path / "site" / "summary.md").read_text().splitlines()
    assert lines[2] == "![Timeline of churn on 2026-11-20 (UTC)](img/timeline-2026-11-20.png)"
    assert (tmp_path / "site" / "img" / "timeline-2026-11-20.png").is_file()


def test_assets_and_out_in_a_new_directory_work_without_a_timeline(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config()
    document = full_document()
    del document["timeline"]
    store(config.parent, document)
    monkeypatch.chdir(tmp_path)
    result = invoke(
        config,
        "-o",
        "markdown",
        "report",
        "--date",
        DAY.isoformat(),
        "--assets",
        "site",
        "--out",
        "site/summary.md",
    )
    assert result.exit_code == 0, result.stderr
    assert "_No timeline in this report, so no picture" in (tmp_path / "site" / "summary.md").read_text()


def test_assets_where_no_directory_can_be_made_is_exit_2(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config()
    store(config.parent, full_document())
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = invoke(
        config, "-o", "markdown", "report", "--date", DAY.isoformat(), "--assets", str(blocker / "sub")
    )
    assert result.exit_code == 2
    assert (
        f"--assets {blocker / 'sub'}: cannot create the directory" in result.stderr
        and "Traceback" not in result.stderr
    )
