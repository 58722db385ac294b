"""Reading model input: CSV and JSON Lines, gzip, types per column, and errors that name the line."""

from __future__ import annotations

import csv
import gzip
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlprom.cli import app
from mlprom.errors import InputError
from mlprom.storage import inputs
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


# ---------------------------------------------------------------- an input line is bounded


@pytest.fixture
def small_line_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(inputs, "MAX_INPUT_LINE", 1000)
    return 1000


@pytest.mark.parametrize("name", ["in.jsonl", "in.jsonl.gz", "in.csv", "in.csv.gz"])
@pytest.mark.parametrize("line", [1, 3])
def test_a_line_past_the_limit_is_an_input_error_naming_file_line_and_limit(
    tmp_path: Path, small_line_limit: int, name: str, line: int
) -> None:
    row = '{"a": 1}' if "jsonl" in name else "1"
    long = '{"a": "' + "x" * small_line_limit + '"}' if "jsonl" in name else "x" * (small_line_limit + 1)
    lines = ([] if "jsonl" in name else ["a"]) + [row] * 4
    lines[line - 1] = long
    body = ("\n".join(lines) + "\n").encode()
    (tmp_path / name).write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    with pytest.raises(InputError) as caught:
        list(open_input(str(tmp_path / name)).batches(10))
    assert str(caught.value) == (
        f"{tmp_path / name}: line {line}: longer than 1,000 characters, the limit for one input line"
    )


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", ""], ids=["lf", "crlf", "cr", "last-line"])
def test_a_line_of_exactly_the_limit_is_read(tmp_path: Path, small_line_limit: int, ending: str) -> None:
    value = "x" * (small_line_limit - len('{"a": ""}'))
    (tmp_path / "in.jsonl").write_text(f'{{"a": 1}}\n{{"a": "{value}"}}{ending}', newline="")
    (tmp_path / "in.csv").write_text(f"a\n1\n{'y' * small_line_limit}{ending}", newline="")
    (batch,) = open_input(str(tmp_path / "in.jsonl")).batches(10)
    assert batch.frame["a"].tolist() == [1, value]
    (batch,) = open_input(str(tmp_path / "in.csv")).batches(10)
    assert batch.frame["a"].tolist() == ["1", "y" * small_line_limit]


def test_line_numbers_count_quoted_newlines_as_the_csv_module_does(
    tmp_path: Path, small_line_limit: int
) -> None:
    (tmp_path / "in.csv").write_text('a,b\n"one\ntwo",1\n2,' + "x" * 2000 + "\n")
    with pytest.raises(InputError, match=r"in\.csv: line 4: longer than 1,000 characters"):
        list(open_input(str(tmp_path / "in.csv")).batches(10))


def test_a_real_size_over_long_line_is_refused_without_being_held_whole(tmp_path: Path) -> None:
    # 256 MiB of one JSON line, 256 KiB of gzip: read past the 64 Mi characters bound it would be held whole.
    path = tmp_path / "wide.jsonl.gz"
    chunk = b"x" * (1024 * 1024)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(b'{"a": 1}\n{"a": "')
        for _ in range(256):
            handle.write(chunk)
        handle.write(b'"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"wide\.jsonl\.gz: line 2: longer than 67,108,864 characters"):
            list(open_input(str(path)).batches(10))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * inputs.MAX_INPUT_LINE, peak


def test_capture_model_refuses_an_over_long_line_with_exit_2_and_writes_nothing(
    tmp_path: Path, write_config: Callable[..., Path], small_line_limit: int
) -> None:
    (tmp_path / "in.jsonl").write_text('{"a": "' + "x" * 2000 + '"}\n{"a": 1}\n')
    config = write_config()
    result = CliRunner().invoke(
        app, ["-c", str(config), "capture-model", "--input", str(tmp_path / "in.jsonl"), "--model", "m:f"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"mlprom: error: {tmp_path / 'in.jsonl'}: line 1: longer than 1,000 characters, "
        "the limit for one input line"
    ]
    assert not (tmp_path / "data").exists()


def test_a_quoted_csv_field_of_many_short_lines_is_bounded_by_the_field_limit(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text('a,b\n1,2\n"' + "x\n" * 600 + '",3\n')
    before = csv.field_size_limit(1000)
    try:
        with pytest.raises(
            InputError, match=r"in\.csv: line \d+ \(row 2\): malformed CSV: field larger than"
        ):
            list(open_input(str(tmp_path / "in.csv")).batches(10))
    finally:
        csv.field_size_limit(before)
