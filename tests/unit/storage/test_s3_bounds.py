"""S3 storage against hostile loopback endpoints: a listing that repeats its continuation token or never stops
paging ends with a StorageError naming the prefix, and no GET reads past the size cap."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from mlprom.errors import StorageError
from mlprom.storage import s3 as s3_module
from mlprom.storage.s3 import S3Storage, make_client
from tests.fixtures.hostile import Behaviour, HostileServer, running_hostile_server, running_paging_s3

LOOKED_AT = 5_000  # far more pages than any test listing here may take: reaching it means no bound held


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _storage(url: str, timeout: float = 2.0, **kwargs: int) -> S3Storage:
    client = make_client(url, "us-east-1", timeout, max_attempts=1)
    return S3Storage("bucket", "root", client=client, timeout=timeout, **kwargs)


def test_a_listing_that_repeats_its_continuation_token_ends_naming_the_prefix() -> None:
    with running_paging_s3(lambda page: "same-token") as server:
        storage = _storage(server.url)
        with pytest.raises(StorageError, match=r"s3://bucket/root/model/dt=2026-11-20/: .*repeated"):
            list(itertools.islice(storage.list("model/dt=2026-11-20/"), LOOKED_AT))
    assert server.pages == 2


def test_a_listing_that_never_stops_paging_ends_within_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "LIST_TIMEOUTS", 2)
    with running_paging_s3(lambda page: f"token-{page}") as server:
        storage = _storage(server.url, timeout=0.25)
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"s3://bucket/root/model/: listing not done after \d+ pages"):
            list(itertools.islice(storage.list("model/"), LOOKED_AT))
    # The budget is request time: 2 x 0.25 s, plus the last page's own request.
    assert time.monotonic() - started < 0.5 + 0.25 + 2.0
    assert server.pages < LOOKED_AT


@pytest.fixture
def s3_object_server() -> Iterator[HostileServer]:
    with running_hostile_server() as server:
        yield server


def test_a_get_declaring_a_body_over_the_cap_is_refused_unread(s3_object_server: HostileServer) -> None:
    s3_object_server.set(
        Behaviour(
            "hang", 200, b"", (("Content-Type", "application/octet-stream"), ("Content-Length", str(10**12)))
        )
    )
    storage = _storage(s3_object_server.url)
    started = time.monotonic()
    with pytest.raises(
        StorageError, match=r"s3://bucket/root/model/big\.jsonl: 1,000,000,000,000 bytes, over"
    ):
        storage.get_bytes("model/big.jsonl")
    assert time.monotonic() - started < 2.0  # refused on the headers, not after waiting for the body


def test_a_get_over_a_small_cap_is_refused_naming_the_key(s3_object_server: HostileServer) -> None:
    s3_object_server.set(
        Behaviour("normal", 200, b"x" * 4096, (("Content-Type", "application/octet-stream"),))
    )
    storage = _storage(s3_object_server.url, max_object_bytes=1024)
    with pytest.raises(StorageError, match=r"s3://bucket/root/model/a\.jsonl: .*over the 1,024-byte cap"):
        storage.get_bytes("model/a.jsonl")
    assert _storage(s3_object_server.url, max_object_bytes=4096).get_bytes("model/a.jsonl") == b"x" * 4096


def test_a_chunked_body_past_the_cap_is_refused(s3_object_server: HostileServer) -> None:
    s3_object_server.set(Behaviour("flood", 200, size=4 * 1024 * 1024))
    storage = _storage(s3_object_server.url, max_object_bytes=1024 * 1024)
    with pytest.raises(StorageError, match=r"model/flood\.jsonl: over the 1,048,576-byte cap"):
        storage.get_bytes("model/flood.jsonl")
