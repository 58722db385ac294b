"""Measuring a report page with the browser's own layout: a test copy of the page gets a small probe
script (the page itself has none, and its Content-Security-Policy would refuse one) that writes what
it measured into the DOM, read back with `chromium --headless --dump-dom` at a given window size."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson

from tests.fixtures.browser import FLAGS
from tests.fixtures.servers import require_binary

# Every <details> is opened first, so the folded tables are laid out and measured too. For each table:
# its width against its container's (a scroll container wider inside than outside hides columns); for
# each chart text: its box in the SVG's own units, against the viewBox.
PROBE = """<script>
(function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var root = document.documentElement;
  var out = {page: {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth}, tables: [], texts: []};
  document.querySelectorAll("table").forEach(function (t) {
    var box = t.parentElement;
    var section = t.closest("section");
    out.tables.push({section: section ? section.id : "", tableWidth: t.scrollWidth,
      containerWidth: box.clientWidth, containerScrollWidth: box.scrollWidth,
      right: t.getBoundingClientRect().right});
  });
  document.querySelectorAll("svg.chart").forEach(function (svg, index) {
    var width = svg.viewBox.baseVal.width;
    svg.querySelectorAll("text").forEach(function (text) {
      var b = text.getBBox();
      out.texts.push({chart: index, text: text.textContent, left: b.x, right: b.x + b.width, width: width});
    });
  });
  var pre = document.createElement("pre");
  pre.id = "layout-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')
PROBED = re.compile(r'<pre id="layout-probe">(.*?)</pre>', re.S)


def measure(page: Path, out_dir: Path, width: int = 1400, height: int = 1000) -> dict[str, Any]:
    """The probe's measurements of `page` laid out in a width x height window."""
    html = page.read_text(encoding="utf-8")
    assert CSP.search(html), "the page has no Content-Security-Policy to lift for the probe"
    copy = out_dir / f"{page.stem}.probed.html"
    copy.write_text(CSP.sub("", html).replace("</body>", PROBE + "</body>"), encoding="utf-8")
    binary = require_binary("chromium")
    with tempfile.TemporaryDirectory(prefix="mlprom-chromium-") as profile:
        done = subprocess.run(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--dump-dom",
                copy.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    found = PROBED.search(done.stdout)
    assert found, f"the probe wrote nothing (exit {done.returncode}):\n{done.stderr[-2000:]}"
    import html as html_module

    return dict(orjson.loads(html_module.unescape(found.group(1))))
