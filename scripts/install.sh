#!/usr/bin/env bash
# Installs what mlprom and its tests need on a Debian machine: the Prometheus stack's Debian packages
# (binaries only; no service is started), Chromium and a font (the browser tests open the HTML report in it,
# headless) and mlprom with its test extras in ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# jq and curl: the README's examples (run by tests/docs) and the quickstart use them; chromium and a
# font: the browser tests open the HTML report in it, headless.
packages=(prometheus prometheus-alertmanager prometheus-node-exporter prometheus-pushgateway jq curl chromium fonts-dejavu-core stress-ng)
python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
