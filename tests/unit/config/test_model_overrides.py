"""models: per-model overrides over the shared config, validated like the rest of it."""

from __future__ import annotations

import pytest

from mlprom.config import load_config_text
from mlprom.errors import ConfigError

SHARED = """
alertmanager: {labels: {env: prod}}
models:
  churn:
    latency_threshold: 2s
    thresholds: {cpu_usage: 0.5, accuracy: {critical: 0.9, direction: below}}
    labels: {team: growth}
"""


def test_a_models_overrides_apply_to_it_only() -> None:
    config = load_config_text(SHARED, "<test>", env={})
    churn, other = config.for_model("churn"), config.for_model("fraud")
    assert (churn.model.name, churn.model.latency_threshold) == ("churn", 2.0)
    assert churn.thresholds["cpu_usage"].critical == 0.5 and churn.thresholds["accuracy"].critical == 0.9
    # Merged name by name: the shared thresholds it does not name stay.
    assert churn.thresholds["memory_usage"] == config.thresholds["memory_usage"]
    assert churn.alertmanager.labels == {"env": "prod", "team": "growth"}
    assert (other.model.name, other.model.latency_threshold) == ("fraud", 10.0)
    assert other.thresholds == config.thresholds and other.alertmanager.labels == {"env": "prod"}
    assert config.model.name == "default" and config.thresholds["cpu_usage"].critical == 0.7


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("models: {churn: {sample_rate: 0.5}}", "models.churn.sample_rate: unknown key"),
        ("models: {'a b': {}}", "model name 'a b'"),
        ("models: {churn: {thresholds: {nope: 1}}}", "models.churn: threshold 'nope' names no query"),
        (
            "models: {churn: {labels: {severity: x}}}",
            "models.churn.labels: label 'severity' is set by mlprom",
        ),
        ("models: {churn: {latency_threshold: soon}}", "models.churn.latency_threshold: invalid duration"),
        ("models: {churn: {thresholds: {accuracy: {critical: 0.9, direction: below, for: 1m}}}}", "`for`"),
    ],
)
def test_a_bad_override_is_a_config_error_naming_it(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load_config_text(text, "mlprom.yaml", env={})
    assert named in str(caught.value) and str(caught.value).startswith("mlprom.yaml")
