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


def test_csv_cells_keep_their_types_text_numbers_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("i,f,t,mix,blank,big\n1,1.5,a,1,,123456789012345678901\n2,,b,x,,5\n3,2e3,,2,,7\n")
    with open_input(str(path)) as f:
        (batch,) = list(f.batches(10))
    frame = batch.frame
    assert list(frame.columns) == ["i", "f", "t", "mix", "blank", "big"]
    assert [str(t) for t in frame.dtypes] == ["int64", "float64", "object", "object", "float64", "object"]
    assert frame["t"].tolist() == ["a", "b", None]  # Python strings and None, not pandas' string dtype
    assert frame["mix"].tolist() == ["1", "x", "2"]
    assert frame["f"].tolist()[0::2] == [1.5, 2000.0]
    assert frame["blank"].isna().all()
    assert frame["big"].tolist() == [123456789012345678901, 5, 7]


def test_a_wide_csv_batch_is_one_block_per_dtype_not_one_per_column(tmp_path: Path) -> None:
    # One block a column is what made each batch quadratic in the columns (docs/benchmarks.md).
    columns = 20_000
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{j}" for j in range(columns))
    rows = [",".join(str(i * j) if j % 2 else f"t{i}" for j in range(columns)) for i in range(3)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    with open_input(str(path)) as f:
        (batch,) = list(f.batches(10))
    frame = batch.frame
    assert frame.shape == (3, columns)
    assert list(frame.columns[:3]) == ["c0", "c1", "c2"] and frame.columns[-1] == f"c{columns - 1}"
    assert frame["c1"].tolist() == [0, 1, 2] and frame["c0"].tolist() == ["t0", "t1", "t2"]
    assert frame[f"c{columns - 1}"].tolist() == [0, columns - 1, 2 * (columns - 1)]
    assert frame._mgr.nblocks == 2  # int64 and object
