"""Fixtures of the fault-injection suite: a hostile loopback server per test (tests/fixtures/hostile.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.hostile import HostileServer, running_hostile_server


@pytest.fixture
def hostile_server() -> Iterator[HostileServer]:
    with running_hostile_server() as server:
        yield server
