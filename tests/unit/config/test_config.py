"""Config loading: lookup order, defaults, ${VAR}, durations, thresholds, and errors naming file, line and key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.config import (
    DEFAULT_QUERIES,
    load_config,
    load_config_text,
    parse_duration,
    resolve_config_path,
)
from mlprom.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def _error(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "cfg.yaml", env=env or {})
    return str(info.value)


def test_no_file_gives_the_contract_defaults() -> None:
    config = load_config_text("", "<defaults>", env={})
    assert config.storage.url == "./mlprom-data"
    assert config.prometheus.url == "http://localhost:9090"
    assert config.alertmanager.urls == ["http://localhost:9093"]
    assert config.alertmanager.resend_ttl == 3600
    assert config.model.latency_threshold == 10 and config.model.sample_rate == 0.01
    assert config.correlate.max_skew == 300
    assert {n: q.expr for n, q in config.queries.items()} == {
        n: q["expr"] for n, q in DEFAULT_QUERIES.items()
    }
    assert all(q.unit for q in config.queries.values())  # every default query states its unit
    assert (config.correlate.infra_source, config.correlate.step, config.correlate.fdr) == (
        "auto",
        "auto",
        0.05,
    )
    assert config.thresholds["cpu_usage"].critical == 0.7
    assert config.thresholds["prediction_time"].warning == 5.0


def test_default_cpu_query_measures_usage_not_idle() -> None:
    assert DEFAULT_QUERIES["cpu_usage"]["expr"].startswith("1 - ")


_PER_INSTANCE = re.compile(r"\s*(sum|avg|max|min) by \(instance\) \(")


def _aggregated_per_instance(expr: str) -> bool:
    """The whole expression is one `sum|avg|max|min by (instance) (...)`: no label but instance survives."""
    opening = _PER_INSTANCE.match(expr)
    if opening is None:
        return False
    depth = 0
    for position in range(opening.end() - 1, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[position], 0)
        if depth == 0:
            return not expr[position + 1 :].strip()
    return False


def test_default_disk_and_network_queries_are_one_series_per_instance() -> None:
    # Per-device or per-interface series multiply what a snapshot stores and correlate holds (docs/scaling.md).
    queries = load_config_text("", "<defaults>", env={}).queries
    device_queries = {
        name: query.expr
        for name, query in queries.items()
        if re.search(r"\bnode_(disk|network)_", query.expr)
    }
    assert len(device_queries) >= 4, device_queries  # read and written bytes, received and transmitted
    assert {n: e for n, e in device_queries.items() if not _aggregated_per_instance(e)} == {}
    assert not _aggregated_per_instance("sum by (instance, device) (rate(node_disk_read_bytes_total[1m]))")
    assert not _aggregated_per_instance("sum by (instance) (rate(x[1m])) + node_disk_io_now")
    assert not _aggregated_per_instance("rate(node_network_receive_bytes_total[1m])")


def test_example_file_documents_and_loads() -> None:
    config = load_config(str(ROOT / "thresholds.example.yaml"), env={})
    assert config.queries["memory_usage"].unit == "percent"


def test_example_file_holds_the_true_defaults() -> None:
    # It says it shows the defaults: loading it must give exactly what no file at all gives.
    example = load_config(str(ROOT / "thresholds.example.yaml"), env={})
    defaults = load_config_text("", "<defaults>", env={})

    def shape(config: Any) -> dict[str, tuple[Any, ...]]:
        return {n: (q.expr, q.unit, q.window, q.min_change) for n, q in config.queries.items()}

    assert shape(example) == shape(defaults)  # expressions, units and windows alike
    assert example.model_dump(exclude={"queries"}) == defaults.model_dump(exclude={"queries"})


def test_example_file_mentions_every_key() -> None:
    text = (ROOT / "thresholds.example.yaml").read_text()
    from mlprom.config import Config, Query, Threshold

    def keys(model: type) -> set[str]:
        out = set()
        for name, field in model.model_fields.items():
            if name == "source":
                continue
            out.add(field.alias or name)
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                out |= keys(annotation)
        return out

    # Query and Threshold sit inside dicts, where the walk above does not reach.
    every = keys(Config) | keys(Query) | keys(Threshold)
    missing = [k for k in sorted(every) if not re.search(rf"\b{k}\b:", text)]
    assert missing == []


def test_readme_config_example_loads() -> None:
    readme = (ROOT / "README.md").read_text()
    # The mlprom config examples (the README also shows a Prometheus rule file).
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "storage:" in b]
    assert blocks, "README has no config example"
    for block in blocks:
        load_config_text(block, "README.md", env={"ALERTMANAGER_TOKEN": "x"})


def test_sections_merge_key_by_key() -> None:
    config = load_config_text("prometheus:\n  timeout: 5s\n", env={})
    assert config.prometheus.timeout == 5 and config.prometheus.url == "http://localhost:9090"


def test_queries_given_replace_the_defaults_whole() -> None:
    config = load_config_text("queries:\n  up: up\n", env={})
    assert list(config.queries) == ["up"]
    # Built-in thresholds of dropped queries go too; model-metric ones stay.
    assert set(config.thresholds) == {"accuracy", "prediction_time"}


def test_thresholds_given_replace_the_defaults_whole() -> None:
    config = load_config_text("thresholds:\n  system_load: {warning: 4}\n", env={})
    assert list(config.thresholds) == ["system_load"]


def test_flat_shorthand_is_critical_above() -> None:
    t = load_config_text("thresholds:\n  cpu_usage: 0.9\n", env={}).thresholds["cpu_usage"]
    assert (t.warning, t.critical, t.direction) == (None, 0.9, "above")


def test_env_interpolation_and_fallback() -> None:
    text = "prometheus:\n  url: ${PROM}\n  headers: {X-Scope-OrgID: '${TENANT:-team-a}'}\n"
    config = load_config_text(text, env={"PROM": "http://thanos:10902"})
    assert config.prometheus.url == "http://thanos:10902"
    assert config.prometheus.headers == {"X-Scope-OrgID": "team-a"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("7d", 604800),
        ("1h30m", 5400),
        (12, 12),
        ("2.5", 2.5),
    ],
)
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == seconds


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(None, env={}) is None
    (tmp_path / "mlprom.yaml").write_text("model: {name: local}\n")
    assert resolve_config_path(None, env={}) == Path("mlprom.yaml")
    assert resolve_config_path(None, env={"MLPROM_CONFIG": "/etc/m.yaml"}) == Path("/etc/m.yaml")
    assert resolve_config_path("x.yaml", env={"MLPROM_CONFIG": "/etc/m.yaml"}) == Path("x.yaml")
    assert load_config(None, env={}).model.name == "local"


# ---- errors: each names the file, the line and the key


def test_malformed_yaml_names_the_line() -> None:
    assert _error("model:\n  name: x\nstorage:\n  url: [unclosed\n").startswith("cfg.yaml:5: invalid YAML")


def test_unknown_key_names_line_key_and_allowed_keys() -> None:
    message = _error("prometheus:\n  url: http://x:9090\n  timout: 5s\n")
    assert message.startswith("cfg.yaml:3: prometheus.timout: unknown key")
    assert "timeout" in message


def test_unknown_top_level_section() -> None:
    assert _error("\n\nalerts:\n  x: 1\n").startswith("cfg.yaml:3: alerts: unknown key")


def test_wrong_type() -> None:
    message = _error("model:\n  name: m\n  sample_rate: lots\n")
    assert message.startswith("cfg.yaml:3: model.sample_rate:") and "'lots'" in message


def test_out_of_range() -> None:
    assert _error("model:\n  sample_rate: 1.5\n").startswith("cfg.yaml:2: model.sample_rate:")


def test_bad_duration() -> None:
    message = _error("correlate:\n  max_skew: 5 minutes\n")
    assert message.startswith("cfg.yaml:2: correlate.max_skew: invalid duration '5 minutes'")


def test_seed_bucket_url_is_refused_clearly() -> None:
    message = _error("storage:\n  url: s3:/ML_historical_metrics\n")
    assert message.startswith("cfg.yaml:2: storage.url:") and "s3://BUCKET" in message


def test_invalid_bucket_name_says_why() -> None:
    message = _error("storage:\n  url: s3://ML_historical_metrics/x\n")
    assert "bucket name 'ML_historical_metrics' is invalid" in message and "lowercase" in message


def test_threshold_naming_nothing_is_an_error_at_its_line() -> None:
    message = _error("thresholds:\n  cpu_usage: 0.5\n  gpu_usage: 0.5\n")
    assert message.startswith("cfg.yaml:3: thresholds.gpu_usage:")


def test_threshold_levels_out_of_order() -> None:
    assert "past critical" in _error("thresholds:\n  cpu_usage: {warning: 0.9, critical: 0.5}\n")


def test_threshold_without_levels() -> None:
    assert "needs warning, critical" in _error("thresholds:\n  cpu_usage: {direction: below}\n")


def test_unset_env_var_names_it_and_the_line() -> None:
    assert _error("model:\n  name: m\n  task: ${TASK}\n").startswith("cfg.yaml:3: environment variable TASK")


def test_duplicate_key() -> None:
    assert _error("model:\n  name: a\n  name: b\n") == "cfg.yaml:3: duplicate key 'name'"


def test_top_level_must_be_a_mapping() -> None:
    assert "top level must be a mapping" in _error("- a\n")


def test_empty_queries_section_is_refused() -> None:
    assert "queries: is empty" in _error("queries:\n")


def test_bad_model_name() -> None:
    assert "model.name" in _error("model:\n  name: ../etc\n")


def test_cli_reports_config_errors_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("prometheus:\n  url: http://x:9090\n  timout: 5s\n")
    result = CliRunner().invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"mlprom: error: {cfg}:3: prometheus.timout: unknown key (allowed here: timeout, "
        "headers, bearer_token_file, basic_auth, tls, url, sigv4)"
    )
    assert "Traceback" not in result.output


def test_cli_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["-c", str(tmp_path / "nope.yaml"), "check"])
    assert result.exit_code == 2 and "config file not found" in result.stderr


def test_secret_in_config_never_in_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("prometheus:\n  basic_auth: {username: u, password: s3cr3t-pw}\n  url: nope\n")
    result = CliRunner().invoke(app, ["-c", str(cfg), "check"])
    assert result.exit_code == 2 and "s3cr3t-pw" not in result.output
