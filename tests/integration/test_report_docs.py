"""docs/report.md's commands run as shown, in order, against a planted day."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

from examples.plant_day import config_yaml, write_day_events, write_snapshots
from mlprom.storage.local import LocalStorage

ROOT = Path(__file__).resolve().parents[2]


def commands() -> list[str]:
    text = (ROOT / "docs" / "report.md").read_text()
    block = re.search(r"## Getting it\n\n```sh\n(.*?)```", text, re.S)
    assert block, "docs/report.md lost its command block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_commands_of_docs_report_md_run_as_shown(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data")
    write_snapshots(storage, date(2026, 11, 20))
    write_day_events(storage, date(2026, 11, 20), 3000)
    (tmp_path / "mlprom.yaml").write_text(config_yaml(str(tmp_path / "data")))
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLPROM_CONFIG": str(tmp_path / "mlprom.yaml"),
        "PATH": bin_dir + os.pathsep + os.environ["PATH"],
    }

    lines = commands()
    assert len(lines) == 5 and all(line.split(" && ")[-1].startswith("mlprom ") for line in lines)
    for line in lines:
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {line}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (line, done.stderr)

    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert (
        (tmp_path / "summary.md")
        .read_text()
        .splitlines()[2]
        .startswith("![Timeline of default on 2026-11-20")
    )
    assert (tmp_path / "ci-assets" / "timeline-2026-11-20.png").stat().st_size > 10_000
    assert (tmp_path / "report.json").read_text().startswith("{")
    # --all-models --out DIR: one page per model of the date, named after it, and nothing else.
    assert [p.name for p in (tmp_path / "pages").iterdir()] == ["default.html"]
    assert (tmp_path / "pages" / "default.html").read_text().startswith("<!DOCTYPE html>")
