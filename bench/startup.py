"""CLI start-up: `mlprom --help` and `mlprom --version` against a bare `import typer`, and what they import.

Run: python bench/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scaffold import machine_line

HEAVY = ("mlflow", "boto3", "botocore", "pandas", "numpy", "scipy", "sklearn", "pyarrow")
GOAL = 1.3

# The floor for `--help`: Typer renders help with rich (typer.rich_utils), whatever the app.
BARE_APP = """
import typer

app = typer.Typer(add_completion=False)


@app.command()
def one(date: str = typer.Option("today", help="a date", rich_help_panel="When")) -> None:
    \"\"\"One command.\"\"\"


@app.command()
def two() -> None:
    \"\"\"Another.\"\"\"


app()
"""


def console_script() -> str:
    # The script pip installed next to this interpreter; a pyenv or asdf shim in front of it would add
    # its own start-up (a bash script) and measure the shim, not mlprom.
    beside = Path(sys.executable).parent / "mlprom"
    if beside.exists():
        return str(beside)
    found = shutil.which("mlprom")
    if found is None:
        sys.exit("mlprom console script not found: pip install -e .")
    return found


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def imported_top_level(argv: list[str]) -> set[str]:
    """Top-level packages imported by a command, from `python -X importtime`'s stderr."""
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    )
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (interleaved)")
    args = parser.parse_args()
    script = console_script()
    tmp = tempfile.TemporaryDirectory()
    bare_app = Path(tmp.name) / "bare_app.py"
    bare_app.write_text(BARE_APP)
    commands = {
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "mlprom --version": [script, "--version"],
        "mlprom --help": [script, "--help"],
        "python -c 'import mlprom.cli'": [sys.executable, "-c", "import mlprom.cli"],
        "two-command Typer app --help": [sys.executable, str(bare_app), "--help"],
        "TYPER_USE_RICH=0 mlprom --help": ["env", "TYPER_USE_RICH=0", script, "--help"],
    }
    for argv in commands.values():
        wall(argv)  # warm the page cache and .pyc files
    times: dict[str, list[float]] = {name: [] for name in commands}
    # Interleaved, so a burst of load from other processes hits every command alike.
    for _ in range(args.runs):
        for name, argv in commands.items():
            times[name].append(wall(argv))

    print(machine_line())
    print(f"script: {script}; {args.runs} interleaved runs each\n")
    base = statistics.median(times["python -c 'import typer'"])
    print("| command | median ms | best ms | median vs import typer |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median * 1000:.0f} | {min(values) * 1000:.0f} | {median / base:.2f}x |")

    print("\nheavy packages imported (python -X importtime):")
    failed = False
    checks = {
        "import mlprom": [sys.executable, "-c", "import mlprom"],
        "import mlprom.cli": [sys.executable, "-c", "import mlprom.cli"],
        "mlprom --help": [sys.executable, script, "--help"],
        "mlprom --version": [sys.executable, script, "--version"],
    }
    for name, argv in checks.items():
        heavy = sorted(imported_top_level(argv) & set(HEAVY))
        failed |= bool(heavy)
        print(f"- {name}: {', '.join(heavy) or 'none'}")
    tmp.cleanup()
    version = statistics.median(times["mlprom --version"]) / base
    help_vs_app = statistics.median(times["mlprom --help"]) / statistics.median(
        times["two-command Typer app --help"]
    )
    print(f"\n--version vs import typer: {version:.2f}x (goal <= {GOAL}x)")
    print(f"--help vs a two-command Typer app's --help: {help_vs_app:.2f}x (goal <= {GOAL}x)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
