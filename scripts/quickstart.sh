#!/usr/bin/env bash
# Runs the whole pipeline once on this machine: installs, starts a local Prometheus + node-exporter +
# Alertmanager + Pushgateway on free loopback ports (in ./.quickstart), writes a config with local
# storage and a sqlite MLflow store, then: check, capture-infra, capture-model (an example MLflow model
# with a few deliberately slow rows), capture-infra, correlate, alert, shows the alert that reached
# Alertmanager, and ends by writing the HTML report and printing its path. The servers are stopped at
# the end; MLPROM_QUICKSTART_KEEP=1 leaves them running.
# MLPROM_SKIP_INSTALL=1 uses what is already installed: `mlprom` on PATH and MLPROM_PYTHON (else
# python3) for the example scripts; the test suite runs the quickstart that way.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${MLPROM_SKIP_INSTALL:-0}" = "1" ]; then
  PY="${MLPROM_PYTHON:-python3}"
else
  bash scripts/install.sh
  export PATH="$PWD/.venv/bin:$PATH"
  PY=.venv/bin/python
fi

QS="$PWD/.quickstart"
rm -rf "$QS"
mkdir -p "$QS/prometheus" "$QS/alertmanager"
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NODE=$(port); PROM=$(port); AM=$(port); PUSH=$(port)

pids=()
cleanup() {
  if [ "${MLPROM_QUICKSTART_KEEP:-0}" = "1" ]; then
    echo "servers left running: Prometheus http://127.0.0.1:$PROM, Alertmanager http://127.0.0.1:$AM (pids ${pids[*]})" >&2
  else
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
}
trap cleanup EXIT

cat > "$QS/prometheus/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:$NODE"]}]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$PUSH"]}]
YAML
cat > "$QS/alertmanager/alertmanager.yml" <<YAML
route: {receiver: log, group_wait: 1s}
receivers: [{name: log}]
YAML

prometheus-node-exporter --web.listen-address="127.0.0.1:$NODE" >"$QS/node-exporter.log" 2>&1 & pids+=($!)
# No persistence file: Debian's default (/var/lib/prometheus/pushgateway.data) would share state between runs.
prometheus-pushgateway --web.listen-address="127.0.0.1:$PUSH" --persistence.file= >"$QS/pushgateway.log" 2>&1 & pids+=($!)
prometheus --config.file="$QS/prometheus/prometheus.yml" --storage.tsdb.path="$QS/prometheus/data" \
  --web.listen-address="127.0.0.1:$PROM" >"$QS/prometheus.log" 2>&1 & pids+=($!)
prometheus-alertmanager --config.file="$QS/alertmanager/alertmanager.yml" --storage.path="$QS/alertmanager/data" \
  --web.listen-address="127.0.0.1:$AM" --cluster.listen-address= >"$QS/alertmanager.log" 2>&1 & pids+=($!)

wait_for() { # url, what
  for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "quickstart: $2 did not come up; see $QS/*.log" >&2; exit 3
}
wait_for "http://127.0.0.1:$PROM/-/ready" Prometheus
wait_for "http://127.0.0.1:$AM/-/ready" Alertmanager
wait_for "http://127.0.0.1:$PUSH/-/ready" Pushgateway

cat > "$QS/mlprom.yaml" <<YAML
storage: {url: $QS/data}
prometheus: {url: "http://127.0.0.1:$PROM"}
alertmanager: {urls: ["http://127.0.0.1:$AM"]}
pushgateway: {url: "http://127.0.0.1:$PUSH"}
mlflow: {tracking_uri: "sqlite:///$QS/mlflow.db", experiment: quickstart}
model: {name: sum-rule, latency_threshold: 100ms, sample_rate: 0.2}
thresholds:
  cpu_usage: {warning: 0.8, critical: 0.95}
  memory_usage: {warning: 90, critical: 98}
  prediction_time: {critical: 200ms}     # the example's slow rows take 300 ms: this fires
  accuracy: {critical: 0.8, direction: below}
YAML
export MLPROM_CONFIG="$QS/mlprom.yaml"
export MLFLOW_TRACKING_URI="sqlite:///$QS/mlflow.db"

# rate(...[1m]) needs two scrapes before it has a value
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode 'query=rate(node_cpu_seconds_total[1m])' \
    | grep -q '"value"' && break
  sleep 0.2
done

step() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }
step mlprom check;                 mlprom check
step mlprom capture-infra;         mlprom capture-infra
"$PY" examples/make_model.py "$QS/model" >/dev/null
"$PY" examples/make_data.py "$QS/input.csv" 2000 >/dev/null
step mlprom capture-model --model-uri "$QS/model" --input "$QS/input.csv" --label-column label --batch-size 50 --with-infra
mlprom capture-model --model-uri "$QS/model" --input "$QS/input.csv" --label-column label --batch-size 50 --with-infra
step mlprom capture-infra;         mlprom capture-infra
step mlprom correlate --fail-on never; mlprom correlate --fail-on never
step mlprom alert;                 mlprom alert
step "curl http://127.0.0.1:$AM/api/v2/alerts   # what Alertmanager now holds"
curl -fsS "http://127.0.0.1:$AM/api/v2/alerts" | "$PY" -c '
import json, sys
for a in json.load(sys.stdin):
    print(a["status"]["state"], json.dumps(a["labels"], sort_keys=True), a["annotations"].get("summary", ""))
'
step mlprom report --date today --out "$QS/report.html"
mlprom report --date today --out "$QS/report.html"
echo >&2
echo "data is in $QS/data; the report's JSON: $QS/data/reports/dt=$(date -u +%F)/correlation.json" >&2
echo "the HTML report (open it in a browser; it needs no network):" >&2
echo "$QS/report.html"
