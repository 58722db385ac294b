"""Rendering a stored report of a planted 1M-event day: time and size of -o html, and of the alternatives.

Run: python bench/report_render.py                      (1,000,000 events; about three minutes)
     python bench/report_render.py --events 200000 --repeat 3

Plants the day with examples/plant_day.py (one snapshot a minute, disk_write_io on node-b rising with
the slow periods; the day's event objects copied under the 7 days before it for the drift reference),
correlates it once, then times `mlprom report` in child processes (start-up included, as a user or CI
runs it) for html, markdown with --assets (the matplotlib PNG) and json, and in-process the HTML page
alone. For the plotting choice (docs/report.md) it also measures the cost of importing matplotlib and
the size and time of the same timeline drawn by matplotlib as SVG.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from scaffold import machine_line

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/ of this checkout

from examples.plant_day import config_yaml, write_day_events, write_snapshots  # noqa: E402
from mlprom import layout  # noqa: E402
from mlprom.events.log import iter_event_keys  # noqa: E402
from mlprom.storage.local import LocalStorage  # noqa: E402

DAY = date(2026, 3, 1)
START = datetime(2026, 3, 1, tzinfo=UTC)
LIMIT_BYTES = 2_000_000


def run(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def timed(argv: list[str], repeat: int) -> tuple[float, float]:
    walls = [run(argv) for _ in range(repeat)]
    return statistics.median(walls), min(walls)


def import_cost(module: str, repeat: int) -> float:
    """Median wall time of `python -c 'import module'` minus that of `python -c pass`."""
    base = statistics.median(run([sys.executable, "-c", "pass"]) for _ in range(repeat))
    return statistics.median(run([sys.executable, "-c", f"import {module}"]) for _ in range(repeat)) - base


def matplotlib_timeline_svg(document: dict[str, Any]) -> tuple[int, float]:
    """The --assets figure (picture.timeline_png's code) saved as SVG with text kept as text:
    (bytes, seconds to draw and save), for the plotting choice in docs/report.md."""
    import matplotlib
    from matplotlib.figure import Figure

    from mlprom.render import picture
    from mlprom.render.document import document_timeline

    timeline = document_timeline(document)
    if timeline is None:
        return 0, 0.0
    buffer = io.BytesIO()
    real_savefig = Figure.savefig

    def as_svg(self: Figure, target: Any, **kwargs: Any) -> None:
        kwargs.pop("metadata", None)
        kwargs["format"] = "svg"
        real_savefig(self, buffer, **kwargs)

    started = time.perf_counter()
    with matplotlib.rc_context({"svg.fonttype": "none"}), mock.patch.object(Figure, "savefig", as_svg):
        picture.timeline_png(document, timeline)
    return len(buffer.getvalue()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reference-days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlprom-bench-report-") as name:
        tmp = Path(name)
        storage = LocalStorage(tmp / "data")
        started = time.perf_counter()
        write_snapshots(storage, DAY)
        write_day_events(storage, DAY, args.events, chunk=100_000)
        keys = list(iter_event_keys(storage, DAY, "default"))
        for back in range(1, args.reference_days + 1):
            for key in keys:
                target = layout.event_key(
                    DAY - timedelta(days=back), "default", START, gzip=key.endswith(".gz")
                )
                storage.put_bytes(target, storage.get_bytes(key))
        print(f"planted {args.events:,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        config = tmp / "mlprom.yaml"
        config.write_text(config_yaml(str(tmp / "data")))
        mlprom = [sys.executable, "-m", "mlprom", "-c", str(config), "-q"]
        seconds = run([*mlprom, "-o", "json", "correlate", "--date", DAY.isoformat(), "--fail-on", "never"])
        print(f"correlate: {seconds:.1f} s", file=sys.stderr)

        html = tmp / "report.html"
        assets = tmp / "assets"
        report = [*mlprom, "report", "--date", DAY.isoformat()]
        rows = []
        html_median, html_best = timed([*report, "-o", "html", "--out", str(html)], args.repeat)
        rows.append(("`mlprom report -o html --out FILE`", html_median, html_best, html.stat().st_size))
        md = tmp / "report.md"
        md_median, md_best = timed(
            [*report, "-o", "markdown", "--assets", str(assets), "--out", str(md)], args.repeat
        )
        png = sum(p.stat().st_size for p in assets.glob("*.png")) if assets.exists() else 0
        rows.append(("`mlprom report -o markdown --assets DIR` (PNG)", md_median, md_best, png))
        js = tmp / "report.json"
        json_median, json_best = timed([*report, "-o", "json", "--out", str(js)], args.repeat)
        rows.append(("`mlprom report -o json --out FILE`", json_median, json_best, js.stat().st_size))

        import orjson

        from mlprom import __version__
        from mlprom.render.html.page import Links, Page

        document = orjson.loads(storage.get_bytes(layout.report_key(DAY, "default")))
        page_walls = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            text = Page(document, Links(), __version__).render()
            page_walls.append(time.perf_counter() - started)
        svg_bytes, svg_seconds = matplotlib_timeline_svg(document)
        has_timeline = isinstance(document.get("timeline"), dict)
        series = len(document["timeline"].get("series", [])) if has_timeline else 0
        html_size = html.stat().st_size
        mpl_import = import_cost("matplotlib.pyplot", args.repeat)
        html_import = import_cost("mlprom.render.html.page", args.repeat)

    print(machine_line())
    print(
        f"day: {args.events:,} recorded events (1% slow), 1,350 snapshots x 3 queries x 3 instances, "
        f"{args.reference_days} reference days; report timeline: {'yes' if has_timeline else 'NO'}, "
        f"{series} series; median and best of {args.repeat}\n"
    )
    print("| command (child process, start-up included) | median s | best s | output bytes |")
    print("| --- | ---: | ---: | ---: |")
    for label, median, best, size in rows:
        print(f"| {label} | {median:.2f} | {best:.2f} | {size:,} |")
    print()
    print("| in-process | seconds | bytes |")
    print("| --- | ---: | ---: |")
    page = statistics.median(page_walls)
    print(f"| HTML page alone (Page.render, hand-written SVG) | {page:.3f} | {len(text.encode()):,} |")
    print(f"| the timeline by matplotlib as SVG (text as text) | {svg_seconds:.3f} | {svg_bytes:,} |")
    print(f"| `import matplotlib.pyplot` (over a bare interpreter) | {mpl_import:.3f} | |")
    print(f"| `import mlprom.render.html.page` (over a bare interpreter) | {html_import:.3f} | |")
    verdict = "under" if html_size < LIMIT_BYTES else "OVER"
    print(f"\nHTML file {html_size:,} bytes: {verdict} the 2 MB limit")
    if verdict == "OVER":
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
