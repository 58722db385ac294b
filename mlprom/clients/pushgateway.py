"""Pushgateway heartbeats: each stage pushes when it last succeeded, how long it took and what it counted."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from mlprom.clients.http import build_session, redact_url, request
from mlprom.errors import UpstreamError

if TYPE_CHECKING:
    from mlprom.config import Config


def heartbeat_body(duration: float, extra: dict[str, float], now: float | None = None) -> str:
    metrics = {
        "mlprom_last_success_timestamp_seconds": time.time() if now is None else now,
        "mlprom_last_run_duration_seconds": duration,
        **extra,
    }
    lines = []
    for name, value in metrics.items():
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name} {value!r}")
    return "\n".join(lines) + "\n"


def group_path(stage: str, model: str) -> str:
    # Grouped by job, stage and model, with no instance label: the convention for batch jobs, and one
    # group per model so a failing model's heartbeat is not refreshed by another model's run.
    return f"/metrics/job/mlprom/stage/{quote(stage, safe='')}/model/{quote(model, safe='')}"


def push_heartbeat(config: Config, stage: str, duration: float, extra: dict[str, float]) -> None:
    """PUT the stage's group (replacing its previous values); raises UpstreamError on failure."""
    assert config.pushgateway.url is not None
    session = build_session(config.pushgateway, "pushgateway")
    url = config.pushgateway.url + group_path(stage, config.model.name)
    # One call within pushgateway.timeout, retries included (clients.http.request).
    answer = request(
        session,
        "PUT",
        url,
        "Pushgateway",
        config.pushgateway.timeout,
        max_bytes=64 * 1024,
        data=heartbeat_body(duration, extra).encode(),
        headers={"Content-Type": "text/plain; version=0.0.4"},
    )
    if answer.status_code >= 300:
        raise UpstreamError(f"Pushgateway at {redact_url(url)}: {answer.describe()}: {answer.snippet(200)}")
    if answer.is_html:
        raise UpstreamError(f"Pushgateway at {redact_url(url)}: answered with an HTML page, not its API")
