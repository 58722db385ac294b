"""The HTML report opened in headless Chromium: it draws (a screenshot that is not blank), it logs nothing
to the console (no script error, no blocked fetch), and the DOM holds the headline and the planted
series as the first suspect panel."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from examples.plant_day import PLANTED, config_yaml, write_day_events, write_snapshots
from mlprom import layout
from mlprom.storage.local import LocalStorage
from tests.fixtures.browser import open_page, pixel_spread
from tests.fixtures.html_check import Element, parse_html
from tests.fixtures.report_documents import DAY, full_document

HOSTILE_METRIC = "<script>alert(1)</script>"
HOSTILE_INSTANCE = "/api/[/id]"


def mlprom(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlprom", *argv], capture_output=True, text=True, timeout=120
    )


def report_page(config: Path, document: dict[str, Any], out: Path) -> Path:
    """Store `document` as the date's report and render it with `mlprom report --out`."""
    LocalStorage(config.parent / "data").put_bytes(
        layout.report_key(date.fromisoformat(DAY), "default"), orjson.dumps(document)
    )
    done = mlprom("-c", str(config), "report", "--date", DAY, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def headline(dom: Element) -> str:
    (p,) = [e for e in dom.iter("p") if e.attrs.get("id") == "headline"]
    return p.text


def assert_drawn(png: Path) -> None:
    spread, colours = pixel_spread(png)
    assert spread > 20 and colours > 50, (
        f"the screenshot looks blank: grey stddev {spread:.1f}, {colours} colours"
    )


def test_the_report_of_a_planted_day_renders_with_the_planted_series_first(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    page = report_page(write_config(), full_document(), tmp_path / "report.html")

    run = open_page(page, tmp_path)

    assert_drawn(run.screenshot)
    assert run.console == []
    dom = parse_html(run.dom)
    assert (
        headline(dom)
        == "prediction time rose with disk_write_io on node-b:9100: +14.20 robust σ, q = 3.0e-09."
    )
    panels = dom.by_class("suspect-panel")
    assert panels and panels[0].attrs["data-metric"] == "disk_write_io"
    assert panels[0].attrs["data-labels"] == '{instance="node-b:9100", job="node"}'
    assert len([s for s in dom.iter("svg") if "chart" in s.attrs.get("class", "")]) >= 7


def test_hostile_strings_show_as_text_and_run_nothing(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    document = full_document(planted_metric=HOSTILE_METRIC, planted_labels={"instance": HOSTILE_INSTANCE})
    document["model"] = "</title><img src=x onerror=alert(2)>"
    page = report_page(write_config(), document, tmp_path / "hostile.html")

    run = open_page(page, tmp_path)

    assert run.console == []
    dom = parse_html(run.dom)
    assert dom.iter("script") == [] and dom.iter("img") == []
    first = dom.by_class("suspect-panel")[0]
    assert first.attrs["data-metric"] == HOSTILE_METRIC
    assert first.iter("h3")[0].text == f'#1 {HOSTILE_METRIC} {{instance="{HOSTILE_INSTANCE}"}}'
    assert headline(dom).startswith(f"prediction time rose with {HOSTILE_METRIC} on {HOSTILE_INSTANCE}: ")
    assert dom.iter("title")[0].text.startswith("mlprom report: </title><img src=x onerror=alert(2)> on")


def test_the_console_check_catches_a_script_error_and_a_blocked_fetch(tmp_path: Path) -> None:
    # The checks above pass only because the page is clean: the same harness sees a broken one.
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        "</head><body><p>x</p><img src='http://127.0.0.1:9/pixel.png'><script>missing()</script></body></html>"
    )
    run = open_page(broken, tmp_path, width=400, height=300)
    text = "\n".join(run.console)
    assert "Content Security Policy" in text and "127.0.0.1:9/pixel.png" in text
    erring = tmp_path / "erring.html"
    erring.write_text("<!DOCTYPE html><html><body><p>x</p><script>missing()</script></body></html>")
    assert "missing is not defined" in "\n".join(open_page(erring, tmp_path, width=400, height=300).console)


def test_the_blank_check_sees_a_blank_page(tmp_path: Path) -> None:
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    spread, colours = pixel_spread(open_page(blank, tmp_path, width=400, height=300).screenshot)
    assert spread < 1 and colours <= 2


def test_correlate_of_a_planted_day_draws_the_planted_series_first_in_chromium(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data")
    write_snapshots(storage, date.fromisoformat(DAY))
    write_day_events(storage, date.fromisoformat(DAY), 6000)
    config = tmp_path / "mlprom.yaml"
    config.write_text(config_yaml(str(tmp_path / "data")))
    done = mlprom("-c", str(config), "-o", "html", "correlate", "--date", DAY, "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    page = tmp_path / "correlate.html"
    page.write_text(done.stdout)

    run = open_page(page, tmp_path)

    assert_drawn(run.screenshot)
    assert run.console == []
    dom = parse_html(run.dom)
    metric, instance = PLANTED
    assert headline(dom).startswith(f"prediction time rose with {metric} on {instance}: +")
    panels = dom.by_class("suspect-panel")
    assert panels, "no suspect panel: the report has no timeline series"
    assert (panels[0].attrs["data-metric"], panels[0].attrs["data-labels"]) == (
        metric,
        f'{{instance="{instance}", job="node"}}',
    )
    assert "prediction-panel" in [d.attrs.get("id") for d in dom.iter("div")]
