#!/usr/bin/env bash
# The test command: installs everything (Debian packages, Python deps) and runs lint and the whole suite.
# Integration tests start real Prometheus, node-exporter, Alertmanager, Pushgateway, moto_server and
# MLflow on free 127.0.0.1 ports and stop them. Extra arguments go to both pytest runs below;
# MLPROM_TEST_WORKERS sets the first run's workers (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m ruff check mlprom tests bench examples
.venv/bin/python -m mypy mlprom
# Two runs: everything but the quiet-machine tests on two workers (one per core here; servers start per
# worker on their own free ports, a module stays on one worker), then the tests that load the machine
# with stress-ng on purpose and judge what Prometheus measured, alone. Both run; the worse result is the
# script's. Exit 5 (nothing selected, e.g. a path given that holds no quiet-machine test) is not a failure.
status=0
.venv/bin/python -m pytest -q -n "${MLPROM_TEST_WORKERS:-2}" --dist loadfile -m "not quiet_machine" "$@" || status=$?
[ "$status" -eq 5 ] && status=0
quiet=0
.venv/bin/python -m pytest -q -m quiet_machine "$@" || quiet=$?
[ "$quiet" -eq 5 ] && quiet=0
[ "$quiet" -gt "$status" ] && status=$quiet
exit "$status"
