"""eventscan.gunzip gives what gzip.decompress gives, for every input: the same bytes or the same error."""

from __future__ import annotations

import gzip
import io
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlprom.events.scan import GUNZIP_CHUNK, gunzip

LINES = b"".join(
    b'{"ts":"2026-03-01T00:00:%02d.000Z","prediction_time_seconds":0.%d}\n' % (i % 60, i) for i in range(5000)
)


def _outcome(body: bytes) -> tuple[str, bytes]:
    try:
        return "ok", bytes(gzip.decompress(body))
    except Exception as exc:  # noqa: BLE001 - the type is the outcome compared
        return type(exc).__name__, b""


def _ours(body: bytes) -> tuple[str, bytes]:
    try:
        return "ok", bytes(gunzip(body))
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__, b""


def _named_member(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="events.jsonl", mode="wb", fileobj=out, mtime=0) as f:
        f.write(data)
    return out.getvalue()


CASES = {
    "one member": gzip.compress(LINES),
    "larger than a chunk": gzip.compress(LINES * (GUNZIP_CHUNK // len(LINES) + 2)),
    "empty": gzip.compress(b""),
    "a file name in the header": _named_member(LINES),
    "two members": gzip.compress(LINES) + gzip.compress(b'{"more":1}\n'),
    "the same member twice": gzip.compress(LINES) * 2,
    "truncated": gzip.compress(LINES)[:-100],
    "no trailer": gzip.compress(LINES)[:-8],
    "trailing zeros": gzip.compress(LINES) + b"\0" * 16,
    "trailing garbage": gzip.compress(LINES) + b"garbage!",
    "a wrong size in the trailer": gzip.compress(LINES)[:-4] + (len(LINES) + 1).to_bytes(4, "little"),
    "a huge size in the trailer": gzip.compress(LINES)[:-4] + (2**32 - 1).to_bytes(4, "little"),
    "a wrong checksum": gzip.compress(LINES)[:-8] + b"\0\0\0\0" + gzip.compress(LINES)[-4:],
    "not gzip": b"not gzip at all, just text that is long enough",
    "raw deflate": zlib.compress(LINES),
    "nothing": b"",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gunzip_agrees_with_gzip_decompress(name: str) -> None:
    assert _ours(CASES[name]) == _outcome(CASES[name])


def test_every_member_is_read() -> None:
    assert bytes(gunzip(CASES["the same member twice"])) == LINES * 2


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(["one member", "two members", "a file name in the header", "empty"]),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=4),
    cut=st.integers(min_value=0, max_value=64),
)
def test_gunzip_agrees_with_gzip_decompress_on_damaged_objects(
    base: str, edits: list[tuple[int, int]], cut: int
) -> None:
    body = bytearray(CASES[base])
    for at, value in edits:
        body[at % len(body)] = value
    damaged = bytes(body[: len(body) - cut] if cut < len(body) else body)
    assert _ours(damaged) == _outcome(damaged)


def test_a_writers_object_takes_the_one_buffer_path() -> None:
    # The path that saves the copies is the one taken for what the layout's writers store.
    assert isinstance(gunzip(CASES["one member"]), bytearray)
    assert isinstance(gunzip(CASES["a file name in the header"]), bytearray)
    assert not isinstance(gunzip(CASES["two members"]), bytearray)  # gzip.decompress read them
