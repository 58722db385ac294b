"""Which MLflow stores this install can open: database stores need SQLAlchemy and alembic (full MLflow)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from mlprom.clients.mlflow_tracking import require_store_support
from mlprom.errors import ConfigError

real_find_spec = importlib.util.find_spec


def _skinny(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on mlflow-skinny: sqlalchemy and alembic cannot be imported."""

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in ("sqlalchemy", "alembic") else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:///mlflow.db",
        "SQLite:////tmp/m.db",
        "postgresql+psycopg2://u:secret@db/mlflow",
        "mysql://db/m",
    ],
)
def test_a_database_store_on_skinny_is_refused_in_one_line_naming_the_mlflow_extra(
    monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    _skinny(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        require_store_support(uri)
    message = str(raised.value)
    assert raised.value.exit_code == 2
    assert "\n" not in message and message.endswith("pip install 'mlprom[mlflow]'")
    assert "needs the full MLflow" in message and "secret" not in message


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:5000", "https://u:p@mlflow.example", "databricks", "file:///tmp/mlruns", "./mlruns"],
)
def test_servers_and_file_stores_are_left_to_mlflow_skinny(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    _skinny(monkeypatch)
    require_store_support(uri)


def test_with_sqlalchemy_and_alembic_a_database_store_is_mlflows_to_open() -> None:
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    require_store_support("sqlite:///mlflow.db")
