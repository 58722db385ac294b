"""Streaming model input: CSV or JSON Lines (optionally .gz), local or s3://, read batch by batch.

A batch is a pandas DataFrame; a malformed row raises InputError naming the file and its line.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mlprom.errors import InputError, StorageError, UpstreamError

if TYPE_CHECKING:
    import pandas as pd

    from mlprom.config import Config

READ_BUFFER = 1024 * 1024
# The longest input line read, in characters as decoded (CSV and JSON Lines, after gzip). An input row may
# be far wider than an event (events.log.MAX_LINE_BYTES, 4 MiB): thousands of columns, embedded JSON or
# text. 64 Mi is the bound a CSV field already had, so every line a field of that size fits on is read. A
# longer line is refused, read no further than the bound: unbounded, a 400 MB line was held whole as one
# string, then parsed.
MAX_INPUT_LINE = 64 * 1024 * 1024
# A CSV field may be large (embedded JSON, text); Python's default limit of 128 KiB is too small. A quoted
# field may span lines: this bounds it as MAX_INPUT_LINE bounds one line.
csv.field_size_limit(MAX_INPUT_LINE)


@dataclass(frozen=True)
class Batch:
    index: int  # 0-based batch number
    first_line: int  # file line of the batch's first row (1-based, the header is line 1 for CSV)
    frame: pd.DataFrame


class _CountingRaw(io.RawIOBase):
    """A raw byte stream over anything with read(n), counting bytes consumed (for progress) and hashing them."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self.consumed = 0
        self.sha256 = hashlib.sha256()  # of the bytes as stored (compressed, for .gz): the dataset digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.consumed += n
        self.sha256.update(data)
        return n

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()


class InputFile:
    """An opened input: `batches(size)` streams DataFrames; `columns` is known after `open()`."""

    def __init__(self, location: str, config: Config | None = None) -> None:
        self.location = location
        self.config = config
        name = location.lower()
        self.compressed = name.endswith(".gz")
        base = name[:-3] if self.compressed else name
        if base.endswith(".csv"):
            self.kind = "csv"
        elif base.endswith((".jsonl", ".ndjson", ".json")):
            self.kind = "jsonl"
        else:
            raise InputError(
                f"{location}: unknown input format; name it .csv or .jsonl/.ndjson (optionally .gz)"
            )
        self.size: int | None = None
        self.columns: list[str] | None = None
        self._raw: _CountingRaw | None = None
        self._text: IO[str] | None = None
        self._csv: Any = None
        self._pending: dict[str, Any] | None = None  # first JSON object, read to learn the columns

    @property
    def consumed(self) -> int:
        return self._raw.consumed if self._raw else 0

    def content_digest(self) -> str:
        """SHA-256 (hex) of the bytes read so far: of the whole file once every batch was read."""
        return (self._raw.sha256 if self._raw else hashlib.sha256()).hexdigest()

    def open(self) -> InputFile:
        source = self._open_source()
        self._raw = _CountingRaw(source)
        binary: IO[bytes] = io.BufferedReader(self._raw, READ_BUFFER)
        if self.compressed:
            binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
        # newline="" keeps line endings inside quoted CSV fields, as the csv module requires.
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            self._line = 0
            if self.kind == "csv":
                self._csv = csv.reader(self._lines())
                try:
                    header = next(self._csv)
                except StopIteration:
                    raise InputError(f"{self.location}: empty file, expected a CSV header line") from None
                self.columns = [h.strip() for h in header]
                if len(set(self.columns)) != len(self.columns):
                    raise InputError(f"{self.location}: line 1: duplicate column names in the CSV header")
            else:
                self._pending = self._next_object()
                self.columns = list(self._pending) if self._pending is not None else []
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
            raise InputError(f"{self.location}: cannot read: {exc.__class__.__name__}: {exc}") from None
        return self

    def close(self) -> None:
        if self._text is not None:
            self._text.close()

    def __enter__(self) -> InputFile:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_source(self) -> Any:
        if self.location.startswith("s3://"):
            return self._open_s3()
        path = Path(self.location[7:] if self.location.startswith("file://") else self.location).expanduser()
        try:
            handle = open(path, "rb")  # noqa: SIM115 - owned by the InputFile, closed in close()
            self.size = os.fstat(handle.fileno()).st_size
            return handle
        except FileNotFoundError:
            raise InputError(f"{self.location}: input file not found") from None
        except IsADirectoryError:
            raise InputError(f"{self.location}: is a directory, not an input file") from None
        except OSError as exc:
            raise InputError(f"{self.location}: cannot open: {exc.strerror or exc}") from None

    def _open_s3(self) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        from mlprom.storage.s3 import call_deadline, make_client

        bucket, _, key = self.location[5:].partition("/")
        if not bucket or not key:
            raise InputError(f"{self.location}: expected s3://BUCKET/KEY")
        storage = self.config.storage if self.config else None
        endpoint = (storage.endpoint_url if storage else None) or os.environ.get("AWS_ENDPOINT_URL_S3")
        timeout = storage.timeout if storage else 30.0
        # The GET (until its headers) ends within storage.timeout; the body is then streamed for as long
        # as the capture runs, each read bounded by the read timeout.
        client = make_client(endpoint, storage.region if storage else None, timeout, read_timeout=60)
        try:
            # One streamed GET: the body is read a buffer at a time, never whole.
            with call_deadline(timeout):
                response = client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise InputError(f"{self.location}: no such object") from None
            if code == "NoSuchBucket":
                raise InputError(f"{self.location}: bucket {bucket!r} does not exist") from None
            raise StorageError(f"{self.location}: read failed: {code}") from None
        except BotoCoreError as exc:
            from mlprom.redact import redact_text

            raise UpstreamError(
                f"{self.location}: read failed: {exc.__class__.__name__}: {redact_text(str(exc))}"
            ) from None
        self.size = int(response.get("ContentLength") or 0) or None
        return response["Body"]

    # ------------------------------------------------------------ rows

    def _lines(self) -> Iterator[str]:
        """The file's lines with their endings, each read with a bound: a line longer than MAX_INPUT_LINE
        is an InputError naming it, read no further than the bound (memory stays bounded)."""
        assert self._text is not None
        limit = MAX_INPUT_LINE
        # limit + 2: room for a line of `limit` characters and its "\r\n".
        for line in iter(functools.partial(self._text.readline, limit + 2), ""):
            self._line += 1
            if len(line) > limit and len(line.rstrip("\r\n")) > limit:
                raise InputError(
                    f"{self.location}: line {self._line}: longer than {limit:,} characters, the limit "
                    "for one input line"
                )
            yield line

    def _next_object(self) -> dict[str, Any] | None:
        import orjson

        assert self._text is not None
        for line in self._lines():
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{self.location}: line {self._line}: not valid JSON ({exc})") from None
            if not isinstance(value, dict):
                raise InputError(
                    f"{self.location}: line {self._line}: expected a JSON object, got {type(value).__name__}"
                )
            return value
        return None

    def batches(self, size: int) -> Iterator[Batch]:
        """Stream the rows as DataFrames of `size` rows; the last may be shorter."""
        if self._text is None:
            self.open()
        try:
            if self.kind == "csv":
                yield from self._csv_batches(size)
            else:
                yield from self._jsonl_batches(size)
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.location}: cannot read: {exc.__class__.__name__}: {exc}") from None
        except OSError as exc:
            raise InputError(f"{self.location}: cannot read: {exc}") from None

    def _csv_batches(self, size: int) -> Iterator[Batch]:
        assert self.columns is not None
        width = len(self.columns)
        rows: list[list[str]] = []
        first_line = 2
        index = 0
        row_number = 0
        while True:
            try:
                row = next(self._csv)
            except StopIteration:
                break
            except csv.Error as exc:
                raise InputError(
                    f"{self.location}: line {self._csv.line_num} (row {row_number + 1}): malformed CSV: {exc}"
                ) from None
            row_number += 1
            if not row:
                continue  # blank line
            if len(row) != width:
                raise InputError(
                    f"{self.location}: line {self._csv.line_num} (row {row_number}): "
                    f"expected {width} fields as in the header, found {len(row)}"
                )
            if not rows:
                first_line = self._csv.line_num
            rows.append(row)
            if len(rows) == size:
                yield Batch(index, first_line, csv_frame(self.columns, rows))
                index += 1
                rows = []
        if rows:
            yield Batch(index, first_line, csv_frame(self.columns, rows))

    def _jsonl_batches(self, size: int) -> Iterator[Batch]:
        import pandas as pd

        records: list[dict[str, Any]] = []
        index = 0
        first_line = self._line
        obj = self._pending
        self._pending = None
        while obj is not None:
            if not records:
                first_line = self._line
            records.append(obj)
            if len(records) == size:
                yield Batch(index, first_line, pd.DataFrame.from_records(records))
                index += 1
                records = []
            obj = self._next_object()
        if records:
            yield Batch(index, first_line, pd.DataFrame.from_records(records))


def csv_frame(columns: list[str], rows: list[list[str]]) -> pd.DataFrame:
    """Text rows -> DataFrame with numbers parsed per column, as pandas.read_csv would; '' is missing.

    The frame is built from one 2-D array per dtype, never by assigning column after column: each
    assignment adds a block to the frame, which made a wide CSV's batch quadratic in its columns
    (docs/benchmarks.md, "Wide CSV batches").
    """
    import numpy as np
    import pandas as pd

    cells = np.array(rows, dtype=object).reshape(len(rows), len(columns))
    cells[cells == ""] = None
    groups: dict[Any, tuple[list[str], list[Any]]] = {}
    for position, name in enumerate(columns):
        column = cells[:, position]
        try:
            column = pd.to_numeric(column)
        except (ValueError, TypeError):
            pass  # a text column stays text: Python strings and None, not pandas' string dtype
        names, arrays = groups.setdefault(column.dtype, ([], []))
        names.append(name)
        arrays.append(column)
    if not groups:
        return pd.DataFrame(index=range(len(rows)))
    parts = [
        pd.DataFrame(np.column_stack(arrays), columns=names, dtype=dtype, copy=False)
        for dtype, (names, arrays) in groups.items()
    ]
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
    return frame if list(frame.columns) == columns else frame[columns]


def open_input(location: str, config: Config | None = None) -> InputFile:
    """Open a local path, file:// URL or s3://bucket/key and read its header (fails fast on a bad input)."""
    return InputFile(location, config).open()


def batch_digest(frame: Any) -> str:
    """sha256 of the batch's canonical JSON: {"columns": [...], "rows": [[...], ...]}, NaN as null."""
    import orjson

    body = orjson.dumps(
        {"columns": [str(c) for c in frame.columns], "rows": frame.to_numpy(dtype=object).tolist()},
        default=str,
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    return "sha256:" + hashlib.sha256(body).hexdigest()


def batch_rows(frame: Any) -> list[dict[str, Any]]:
    import orjson

    # Round-trip through JSON so timestamps, numpy scalars and NaN are plain JSON values in the event.
    return orjson.loads(
        orjson.dumps(frame.to_dict(orient="records"), default=str, option=orjson.OPT_SERIALIZE_NUMPY)
    )
