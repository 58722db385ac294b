"""Families several stages push carry one HELP text, true for each of them, in the real Pushgateway's /metrics."""

from __future__ import annotations

import uuid

import pytest
import requests

from mlprom.clients.pushgateway import HELP, push_heartbeat
from mlprom.config import Config
from tests.fixtures.servers import PrometheusStack

pytestmark = pytest.mark.integration


def _helps(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("# HELP mlprom_"):
            name, _, help_text = line.removeprefix("# HELP ").partition(" ")
            out.setdefault(name, []).append(help_text)
    return out


def test_families_pushed_by_two_stages_show_one_help_text_true_for_both(
    prometheus_stack: PrometheusStack,
) -> None:
    model = f"help-{uuid.uuid4().hex[:8]}"
    config = Config.model_validate(
        {"pushgateway": {"url": prometheus_stack.pushgateway_url}, "model": {"name": model}}
    )
    push_heartbeat(config, "capture-infra", 1.5, {"mlprom_infra_series": 3.0, "mlprom_partial_failures": 1.0})
    push_heartbeat(config, "check", 0.5, {"mlprom_check_failures": 0.0, "mlprom_partial_failures": 0.0})

    answer = requests.get(prometheus_stack.pushgateway_url + "/metrics", timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    helps = _helps(answer.text)
    for family in (
        "mlprom_last_success_timestamp_seconds",
        "mlprom_last_run_duration_seconds",
        "mlprom_partial_failures",
    ):
        assert helps[family] == [HELP[family]], family
        assert "capture-infra" not in HELP[family] and "check" not in HELP[family]
    # Both groups' samples are there under the one family.
    for stage in ("capture-infra", "check"):
        assert (
            f'mlprom_partial_failures{{instance="",job="mlprom",model="{model}",stage="{stage}"}}'
            in answer.text
        )
