#!/usr/bin/env bash
# Runs the whole pipeline once on this machine: installs, starts a local Prometheus (scraping every
# second) + node-exporter + Alertmanager + Pushgateway on free loopback ports (in ./.quickstart), writes
# a config with local storage and a sqlite MLflow store, then: check, capture-infra, capture-model (an
# example MLflow model that spends 40 ms of CPU on each batch) while the quickstart plants a CPU incident
# (three times, stress-ng --cpu 8 for 12 s), capture-infra, correlate (which should name a CPU metric as
# the significant suspect), alert, shows the alerts that reached Alertmanager with their labels and
# annotations, and ends by writing the HTML report and printing its path. 3 to 3.5 minutes measured on 2
# busy cores. The servers are stopped at the end; MLPROM_QUICKSTART_KEEP=1 leaves them running.
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

# The planted incident needs it (scripts/install.sh installs it): without it nothing would be planted.
command -v stress-ng >/dev/null || { echo "quickstart: stress-ng is not installed (scripts/install.sh installs it)" >&2; exit 2; }

QS="$PWD/.quickstart"
rm -rf "$QS"
mkdir -p "$QS/prometheus" "$QS/alertmanager"
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NODE=$(port); PROM=$(port); AM=$(port); PUSH=$(port)

pids=()
planter=
cleanup() {
  # The planted load first, whatever else is kept: stress-ng stops its workers on SIGTERM.
  if [ -n "$planter" ]; then
    kill "$planter" 2>/dev/null || true
    kill "$(cat "$QS/stress.pid" 2>/dev/null)" 2>/dev/null || true
  fi
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

step() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }

# The example model costs 40 ms of CPU a batch on any machine. Its latency threshold is measured here, on
# quiet batches, so a batch is slow when it waited for the CPU, not because this machine is slower or busy.
step python examples/make_model.py "$QS/model"
read -r THRESHOLD BATCH_SECONDS < <("$PY" examples/make_model.py "$QS/model" 2>"$QS/make_model.log")
echo "latency threshold for this machine: $THRESHOLD (twice the 95th percentile of 40 quiet batches;" \
  "median ${BATCH_SECONDS}s)" >&2
# The planted incident (below): a load of LOAD s after each quiet stretch of QUIETS, from the first batch,
# then TAIL s of quiet: 99 s. Uneven gaps: evenly spaced loads would line up again with themselves when
# correlate's test shifts the slow episodes in time, and look less unusual where they really are. The input
# lasts 1.3 times that at the median just measured: the capture outlasts the incident unless the machine
# gets much less busy meanwhile.
LOAD=12 QUIETS="12 22 14" TAIL=15
WINDOWS=$(wc -w <<<"$QUIETS")
INCIDENT_SECONDS=$((${QUIETS// /+} + WINDOWS * LOAD + TAIL))
BATCHES=$("$PY" -c 'import sys; print(max(100, round(1.3 * int(sys.argv[1]) / float(sys.argv[2]))))' \
  "$INCIDENT_SECONDS" "$BATCH_SECONDS")
"$PY" examples/make_data.py "$QS/input.csv" $((BATCHES * 50)) >/dev/null

cat > "$QS/mlprom.yaml" <<YAML
storage: {url: $QS/data}
prometheus: {url: "http://127.0.0.1:$PROM"}
alertmanager: {urls: ["http://127.0.0.1:$AM"]}
pushgateway: {url: "http://127.0.0.1:$PUSH"}
mlflow: {tracking_uri: "sqlite:///$QS/mlflow.db", experiment: quickstart}
model: {name: sum-rule, latency_threshold: $THRESHOLD, sample_rate: 0.2}
correlate: {step: auto}                  # Prometheus' scrape interval (1 s here): each incident is 12 steps
thresholds:
  cpu_usage: {warning: 0.8, critical: 0.95}
  memory_usage: {warning: 90, critical: 98}
  prediction_time: {critical: $THRESHOLD}  # every batch that waited for the CPU fires it
  accuracy: {critical: 0.7, direction: below}  # per batch of 50 rows, one label in ten flipped: about 0.9
YAML
export MLPROM_CONFIG="$QS/mlprom.yaml"
export MLFLOW_TRACKING_URI="sqlite:///$QS/mlflow.db"

# rate(...[1m]) needs two scrapes before it has a value
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode 'query=rate(node_cpu_seconds_total[1m])' \
    | grep -q '"value"' && break
  sleep 0.2
done

step mlprom check;                 mlprom check
step mlprom capture-infra;         mlprom capture-infra

# The planted incident: three CPU loads of 12 s while capture-model scores batch after batch (from its
# MLflow run's start: loading the model comes first). Several episodes, because one coincidence in time is
# no evidence (docs/correlation.md, "Suspects").
capture_running() {
  "$PY" -c 'import sqlite3, sys
try:
    running = sqlite3.connect(sys.argv[1]).execute("select count(*) from runs where status = '"'RUNNING'"'").fetchone()[0]
except sqlite3.Error:
    running = 0
sys.exit(0 if running else 1)' "$QS/mlflow.db"
}
plant() {
  for _ in $(seq 1 240); do capture_running && break; sleep 0.5; done
  i=0
  for quiet in $QUIETS; do
    sleep "$quiet"
    i=$((i + 1))
    echo "quickstart: planted CPU incident $i of $WINDOWS at $(date -u +%T) UTC: stress-ng --cpu 8 for ${LOAD}s" >&2
    stress-ng --cpu 8 --timeout "${LOAD}s" --quiet &
    echo $! >"$QS/stress.pid"
    wait $! || true
    rm -f "$QS/stress.pid"  # never signal a pid that may since belong to another process
  done
}
echo >&2
echo "quickstart: planting a CPU incident while capture-model runs: $WINDOWS times stress-ng --cpu 8 for ${LOAD}s," \
  "after quiet stretches of ${QUIETS// /, } s from its first batch (${INCIDENT_SECONDS}s in all; $BATCHES batches)" >&2
plant & planter=$!
step mlprom capture-model --model-uri "$QS/model" --input "$QS/input.csv" --label-column label --batch-size 50 --with-infra
mlprom capture-model --model-uri "$QS/model" --input "$QS/input.csv" --label-column label --batch-size 50 --with-infra
# The incident is over when the capture is (it outlasts it, or the rest of the incident would find no batch).
kill "$planter" 2>/dev/null || true; kill "$(cat "$QS/stress.pid" 2>/dev/null)" 2>/dev/null || true
wait "$planter" 2>/dev/null || true; planter=
step mlprom capture-infra;         mlprom capture-infra
step mlprom correlate --fail-on never; mlprom correlate --fail-on never
mlprom -o json report --date today | "$PY" -c '
import json, sys
report = json.load(sys.stdin)
found = [s for s in report["suspects"] if s["significant"] and s["kind"] == "infra"]
if found:
    top = found[0]
    line = "the planted CPU incident was found: %s is the top significant suspect (q %.3g, %s, %d slow episodes)"
    print("quickstart:", line % (top["metric"], top["q_value"], top["direction"], report["episodes"]), file=sys.stderr)
else:
    line = "correlate found no significant suspect (%d slow episodes): was the machine busy? see the report"
    print("quickstart:", line % report["episodes"], file=sys.stderr)
'
step mlprom alert;                 mlprom alert
step "curl http://127.0.0.1:$AM/api/v2/alerts   # what Alertmanager now holds"
curl -fsS "http://127.0.0.1:$AM/api/v2/alerts" | "$PY" -c '
import json, sys
for a in sorted(json.load(sys.stdin), key=lambda a: a["labels"].get("alertname", "")):
    print(a["status"]["state"], json.dumps(a["labels"], sort_keys=True, ensure_ascii=False))
    print("  annotations", json.dumps(a["annotations"], sort_keys=True, ensure_ascii=False))
'
step mlprom report --date today --out "$QS/report.html"
mlprom report --date today --out "$QS/report.html"
echo >&2
echo "data is in $QS/data; the report's JSON: $QS/data/reports/dt=$(date -u +%F)/model=sum-rule/correlation.json" >&2
echo "the HTML report (open it in a browser; it needs no network):" >&2
echo "$QS/report.html"
