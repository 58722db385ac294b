#!/usr/bin/env bash
# The test command: installs everything (Debian packages, Python deps) and runs lint and the whole suite.
# Integration tests start real Prometheus, node-exporter, Alertmanager, Pushgateway, moto_server and
# MLflow on free 127.0.0.1 ports and stop them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m ruff check mlprom tests bench examples
.venv/bin/python -m mypy mlprom
.venv/bin/python -m pytest -q "$@"
