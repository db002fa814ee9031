"""Write an unlabelled CSV of any size for benchmarks, with a use case's own training generator.

    .venv/bin/python bench/generate.py --rows 1000000 --output bench/data/customers_1m.csv
    .venv/bin/python bench/generate.py --use-case credit_risk --rows 1000000 --output bench/data/credit_1m.csv

Realistic value mix (each generator is calibrated on its public extract), including Telco's
blank-TotalCharges quirk and credit's two space-prefixed header names; written in chunks, so
memory stays flat for 10M+ rows. bench/run.py calls this as a child process rather than importing
it, so its own memory stays small (see ``measured`` there).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's scoring_assets first

BENCH_SEED = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use-case", default="telco_churn", help="telco_churn or credit_risk")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    generator = importlib.import_module(f"scoring_assets.use_cases.{args.use_case}.generate")
    generator.write_extract(args.output, args.rows, seed=BENCH_SEED, labelled=False)
    print(f"wrote {args.output} ({args.rows:,} rows, {args.output.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
