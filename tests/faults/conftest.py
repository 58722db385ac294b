"""Fixtures of the fault-injection suite: hostile loopback servers (tests/fixtures/hostile.py)."""

from tests.fixtures.hostile import hostile_server  # noqa: F401
