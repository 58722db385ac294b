"""Monitor under gunicorn with two workers: PROMETHEUS_MULTIPROC_DIR sums every worker's metrics on one port."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.servers import free_port, require_binary

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

APP = """
import os
import time

from mlprom import Monitor
from mlprom.config import Config

config = Config.model_validate(
    {"storage": {"url": os.environ["SVC_STORE"]}, "model": {"name": "gunicorn-svc", "sample_rate": 0.0}}
)


def slow_identity(X):
    time.sleep(0.05)  # keeps a worker busy, so concurrent requests reach both workers
    return X


monitor = Monitor(slow_identity, config)


def app(environ, start_response):
    monitor.predict([1.0])
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

CONF = """
bind = "127.0.0.1:{app_port}"
workers = 2


def when_ready(server):
    # In the master, once: one /metrics for every worker's values.
    from mlprom.serving.metrics import serve_metrics

    serve_metrics({metrics_port}, "127.0.0.1")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
"""


def _predictions(metrics_url: str) -> float:
    text = requests.get(metrics_url, timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mlprom_predictions_total" and sample.labels.get("model") == "gunicorn-svc":
                return sample.value
    return 0.0


def test_two_gunicorn_workers_are_summed_on_one_metrics_port(tmp_path: Path) -> None:
    gunicorn = require_binary("gunicorn")
    app_port, metrics_port = free_port(), free_port()
    (tmp_path / "svc_app.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text(
        textwrap.dedent(CONF.format(app_port=app_port, metrics_port=metrics_port))
    )
    multiproc = tmp_path / "prom-multiproc"
    multiproc.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "SVC_STORE": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(
        [gunicorn, "-c", str(tmp_path / "gunicorn.conf.py"), "svc_app:app"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app_url, metrics_url = f"http://127.0.0.1:{app_port}/", f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                requests.get(metrics_url, timeout=1)
                requests.get(app_url, timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        sent, pids = 1, set()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(10):  # until both workers have answered
                answers = list(pool.map(lambda _: requests.get(app_url, timeout=10).text, range(16)))
                sent += len(answers)
                pids |= set(answers)
                if len(pids) == 2:
                    break
        assert len(pids) == 2, "gunicorn sent every request to one worker"
        assert _predictions(metrics_url) == sent
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    files = sorted(p.name for p in multiproc.iterdir())
    assert any(name.startswith("histogram_") for name in files) and any(
        name.startswith("counter_") for name in files
    )
