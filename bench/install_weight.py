"""Installed size and package count of each install variant, and the import time of each stage.

    python bench/install_weight.py [--variants lean,assets,tracking,mlflow] [--repeat 7]

Builds the wheel of this tree, installs it into a fresh venv per variant (the package index or pip's
cache supplies the dependencies), and prints a markdown table: packages (pip, setuptools and wheel not
counted), MiB installed in site-packages, and for each stage module the median wall time of
`import mlprom.stages.NAME` in a fresh interpreter. docs/scaling.md quotes the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLING = {"pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources"}
STAGES = (
    "capture_infra",
    "correlate",
    "alert",
    "report",
    "profile",
    "prune",
    "check",
    "rules",
    "capture_model",
)
EXTRAS = {"lean": "", "assets": "[assets]", "tracking": "[tracking]", "mlflow": "[mlflow]"}


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]}: {done.stderr[-2000:]}")
    return done.stdout


def _weight(venv: Path) -> tuple[int, float]:
    listed = json.loads(_run([str(venv / "bin/python"), "-m", "pip", "list", "--format", "json"]))
    count = len({p["name"].lower() for p in listed} - TOOLING)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    size = 0
    for entry in site.iterdir():
        if entry.name.split("-")[0].split(".")[0].lower() in TOOLING:
            continue
        files = [entry] if entry.is_file() else [f for f in entry.rglob("*") if f.is_file()]
        size += sum(f.stat().st_size for f in files)
    return count, size / 2**20


def _import_seconds(venv: Path, module: str, repeat: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return statistics.median(float(_run([str(venv / "bin/python"), "-c", code])) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(EXTRAS))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(ROOT)])
        (wheel,) = (work / "dist").glob("mlprom-*.whl")
        print("| variant | packages | MiB installed |")
        print("| --- | ---: | ---: |")
        lean: Path | None = None
        mlflow_venv: Path | None = None
        for name in args.variants.split(","):
            venv = work / name
            _run([sys.executable, "-m", "venv", str(venv)])
            _run([str(venv / "bin/python"), "-m", "pip", "install", "-q", f"{wheel}{EXTRAS[name]}"])
            count, mib = _weight(venv)
            print(f"| `pip install mlprom{EXTRAS[name]}` | {count} | {mib:.0f} |")
            if name == "lean":
                lean = venv
            elif name == "mlflow":
                mlflow_venv = venv
        print()
        print("| stage module | import, lean (ms) | import, with [mlflow] (ms) |")
        print("| --- | ---: | ---: |")
        for stage in STAGES:
            module = f"mlprom.stages.{stage}"
            cells = []
            for venv in (lean, mlflow_venv):
                cells.append(
                    "-" if venv is None else f"{_import_seconds(venv, module, args.repeat) * 1000:.0f}"
                )
            print(f"| `{module}` | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
