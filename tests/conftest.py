"""Fixtures shared by all tests; the servers start once per session and only when a test asks for them."""

import os

import pytest

from tests.fixtures.configs import *  # noqa: F403
from tests.fixtures.fakes import *  # noqa: F403
from tests.fixtures.mlflow_server import *  # noqa: F403
from tests.fixtures.servers import *  # noqa: F403

# Tables go to stdout as to a pipe or a log (160 columns, mlprom.render): pytest-xdist sets COLUMNS (and
# LINES) in its workers, which the CLI honours as a terminal's width. A test about COLUMNS sets it itself.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

# Fixtures that load the machine with stress-ng: a test using one must be marked quiet_machine, so that
# scripts/test.sh runs it alone, after the rest (a load beside other tests would fail them, and theirs
# would blur what the incident measured).
LOADING_FIXTURES = frozenset({"incidents", "quickstart"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if LOADING_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("quiet_machine") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            f"tests using {sorted(LOADING_FIXTURES)} must be marked quiet_machine: {unmarked}"
        )
