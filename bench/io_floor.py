"""The bare I/O floor: read the CSV with pyarrow and write a CSV of the same rows, nothing else.

    python bench/io_floor.py INPUT.csv OUTPUT.csv

No checks, no features, no model: ``pyarrow.csv.read_csv`` of the whole file (multi-threaded,
type inference on) and ``pyarrow.csv.write_csv`` of the table it read. No scoring process can
be faster than reading its input and writing as many rows; bench/run.py prints every tool's wall
time as a multiple of this one on the same file. Standalone (pyarrow only).
"""

from __future__ import annotations

import sys

import pyarrow.csv as pacsv


def main(source: str, target: str) -> None:
    table = pacsv.read_csv(source)
    pacsv.write_csv(table, target)


if __name__ == "__main__":
    main(*sys.argv[1:3])
