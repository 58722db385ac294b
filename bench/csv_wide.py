"""Wide CSV input: seconds to read a CSV of many columns into its batches (capture-model's input path).

Run: python bench/csv_wide.py [--columns 5000 10000 20000 40000] [--rows 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from scaffold import machine_line

from mlprom.storage.inputs import open_input


def write_csv(path: Path, columns: int, rows: int) -> None:
    # Two numeric columns in three, one text column with blanks: every dtype path of the reader.
    with open(path, "w") as out:
        out.write(",".join(f"c{j}" for j in range(columns)) + "\n")
        for i in range(rows):
            cells = (str(i * j) if j % 3 else ("" if i % 2 else "t") for j in range(columns))
            out.write(",".join(cells) + "\n")


def seconds_to_read(path: Path, batch_size: int) -> tuple[float, int]:
    start = time.perf_counter()
    with open_input(str(path)) as source:
        batches = sum(1 for _ in source.batches(batch_size))
    return time.perf_counter() - start, batches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--columns", type=int, nargs="+", default=[5000, 10000, 20000, 40000])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    import pandas  # noqa: F401 - imported once here, so no width's time includes pandas' import

    print(machine_line())
    print(f"- data: {args.rows} rows, batches of {args.batch_size}")
    print()
    print("| columns | seconds | batches |")
    print("| ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as workdir:
        for columns in args.columns:
            path = Path(workdir) / f"wide-{columns}.csv"
            write_csv(path, columns, args.rows)
            elapsed, batches = seconds_to_read(path, args.batch_size)
            print(f"| {columns:,} | {elapsed:.2f} | {batches} |")


if __name__ == "__main__":
    main()
