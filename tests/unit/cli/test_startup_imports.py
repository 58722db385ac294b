"""`import mlprom`, `mlprom --help` and `mlprom --version` import none of the heavy libraries.

Each case runs in a fresh interpreter, since this test process has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("mlflow", "boto3", "botocore", "pandas", "numpy", "scipy", "matplotlib")

PROBE = """
import json, sys
argv = json.loads(sys.argv[1])
if argv is None:
    import mlprom
else:
    sys.argv = ["mlprom", *argv]
    from mlprom.cli import main
    try:
        main()
    except SystemExit:
        pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


def loaded_packages(argv: list[str] | None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [None, ["--help"], ["--version"], ["prune", "--help"]],
    ids=["import mlprom", "--help", "--version", "prune --help"],
)
def test_cli_start_up_imports_no_heavy_library(argv: list[str] | None) -> None:
    assert loaded_packages(argv) & set(HEAVY) == set()
