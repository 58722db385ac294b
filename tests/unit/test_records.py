"""Events and snapshots round-trip through their JSON forms; URL redaction."""

from __future__ import annotations

from datetime import UTC, date, datetime

from mlprom.clients.http import split_credentials
from mlprom.records import Event, QueryResult, Series, Snapshot
from mlprom.redact import redact_url

AT = datetime(2026, 11, 25, 9, 8, 7, tzinfo=UTC)
DAY = date(2026, 11, 25)


def test_records_round_trip() -> None:
    snapshot = Snapshot(
        AT, "http://p:9090", {"q": QueryResult("up", "vector", (Series({"a": "b"}, None, "NaN"),))}, "id"
    )
    assert Snapshot.from_dict(snapshot.to_dict()) == snapshot
    event = Event(AT, "m", 1.5, True, 10, metrics={"accuracy": 0.5}, accuracy=0.5, outputs=(1.0, 0.0))
    assert Event.from_dict(event.to_dict()) == event


def test_redaction() -> None:
    assert redact_url("https://u:p@h.example:8443/path?token=x") == "https://h.example:8443/path"
    assert split_credentials("http://u:p@h:9090/x") == ("http://h:9090/x", ("u", "p"))
