#!/usr/bin/env bash
# Makes docs/img/report.png, the README's picture of the HTML report, with the project's own commands:
# plants a day (examples/plant_day.py: disk_write_io on node-b rises with the slow periods), correlates
# it, renders the stored report with `mlprom report --out`, and screenshots it in headless Chromium.
# Usage: bash scripts/report_screenshot.sh [OUTPUT.png]   (default docs/img/report.png in this checkout;
# needs mlprom installed and Debian's chromium; MLPROM_PYTHON or PYTHON picks the interpreter)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# An output given is relative to where the script was started, not to the checkout.
out="$(realpath -m "${1:-$root/docs/img/report.png}")"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
PY="${PYTHON:-${MLPROM_PYTHON:-python3}}"

config="$("$PY" examples/plant_day.py "$work" 2026-11-20 20000 --reference-days 7 --snapshots-only)"
mlprom -q -c "$config" correlate --date 2026-11-20 --fail-on never
mlprom -q -c "$config" report --date 2026-11-20 --out "$work/report.html"
mkdir -p "$(dirname "$out")"
# 1400 px wide, the width the browser tests lay the page out at.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size=1400,1500 --screenshot="$out" \
  "file://$work/report.html" 2>/dev/null
test -s "$out"
echo "$out"
