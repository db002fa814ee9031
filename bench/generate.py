"""Write a Telco-shaped, unlabelled CSV of any size for benchmarks, with the project's generator.

    .venv/bin/python bench/generate.py --rows 1000000 --output bench/data/customers_1m.csv

Realistic value mix (the generator is calibrated on the public IBM extract), including the
blank-TotalCharges quirk; written in chunks, so memory stays flat for 10M+ rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scoring_assets.use_cases.telco_churn.generate import write_extract

BENCH_SEED = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    write_extract(args.output, args.rows, seed=BENCH_SEED, labelled=False)
    print(f"wrote {args.output} ({args.rows:,} rows, {args.output.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
