#!/usr/bin/env bash
# Makes docs/img/report.png, the README's picture of the HTML report, with the project's own commands:
# plants a day (examples/plant_day.py: disk_write_io on node-b rises with the slow periods), correlates
# it, renders the stored report with `mlprom report --out`, and screenshots it in headless Chromium.
# Usage: bash scripts/report_screenshot.sh [OUTPUT.png]   (needs mlprom installed and Debian's chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/img/report.png}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
PY="${PYTHON:-python3}"

config="$("$PY" examples/plant_day.py "$work" 2026-11-20 20000 --reference-days 7 --snapshots-only)"
mlprom -q -c "$config" correlate --date 2026-11-20 --fail-on never
mlprom -q -c "$config" report --date 2026-11-20 --out "$work/report.html"
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size=1100,1400 --screenshot="$out" \
  "file://$work/report.html" 2>/dev/null
echo "$out"
