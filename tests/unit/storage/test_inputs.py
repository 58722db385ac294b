"""Reading model input: CSV and JSON Lines, gzip, types per column, and errors that name the line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mlprom.errors import InputError
from mlprom.storage.inputs import batch_digest, open_input


def test_csv_is_read_in_batches_with_numbers_parsed(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b,label\n1,x,0\n2,,1\n3,z,1\n")
    source = open_input(str(tmp_path / "in.csv"))
    batches = list(source.batches(2))
    assert source.columns == ["a", "b", "label"]
    assert [len(b.frame) for b in batches] == [2, 1]
    assert [b.first_line for b in batches] == [2, 4]
    assert batches[0].frame["a"].tolist() == [1, 2]
    assert batches[0].frame["b"].isna().tolist() == [False, True]


def test_gzipped_jsonl_is_read(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n\n{"a": 2, "b": "x"}\n'))
    (batch,) = open_input(str(tmp_path / "in.jsonl.gz")).batches(10)
    assert batch.frame["a"].tolist() == [1, 2]


def test_csv_row_with_too_many_fields_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(
        InputError, match=r"in\.csv: line 3 \(row 2\): expected 2 fields as in the header, found 3"
    ):
        list(open_input(str(tmp_path / "in.csv")).batches(1))


def test_invalid_json_line_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(InputError, match=r"in\.jsonl: line 2: not valid JSON"):
        list(open_input(str(tmp_path / "in.jsonl")).batches(1))


def test_missing_file_and_unknown_extension_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input file not found"):
        open_input(str(tmp_path / "nope.csv"))
    with pytest.raises(InputError, match="unknown input format"):
        open_input(str(tmp_path / "in.parquet"))


def test_batch_digest_is_stable_and_sensitive_to_values(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b\n1,2\n1,3\n")
    first, second = (b.frame for b in open_input(str(tmp_path / "in.csv")).batches(1))
    assert batch_digest(first) == batch_digest(first.copy())
    assert batch_digest(first) != batch_digest(second)
