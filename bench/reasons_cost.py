"""What reason codes cost: CPU-seconds of scoring a feature matrix with and without them, per million rows.

    .venv/bin/python bench/reasons_cost.py [--use-cases credit_risk,telco_churn] [--rows 1000000]

A feature matrix file of ``--rows`` rows is written once from the use case's own generator (not
timed). Then the product's scoring pass (``core.scoring.score_feature_parquet``: read, score with
the verified linear serving form, write the scores file, batch by batch) runs once for the use
case as declared but without reasons, and once with them (``core.reason_codes``: contributions,
the top reasons, their texts as Arrow arrays, written beside the scores); then the scored CSV is
published from each (``write_scored_csv``: the spreadsheet-safe writer, now with the text
columns), and the ``reasons_consistent`` check (``core.reason_check.judge_reasons``: re-reads
the reasons, re-scores its sample) is timed. The last column adds up what reasons cost. CPU
time is the process's user + system time (``time.process_time``), the best of ``--rounds``.
The goal: reasons cost at most 1.5 CPU-s per million rows for a linear model.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's scoring_assets first

from scoring_assets.core.contract import validate_frame  # noqa: E402
from scoring_assets.core.features import build_features  # noqa: E402
from scoring_assets.core.model_store import serving_model, verify_artifact  # noqa: E402
from scoring_assets.core.reason_check import judge_reasons  # noqa: E402
from scoring_assets.core.row_number import ROW_NUMBER  # noqa: E402
from scoring_assets.core.scoring import ID_KEY, feature_schema, score_feature_parquet, write_scored_csv  # noqa: E402
from scoring_assets.use_cases import use_case as use_case_named  # noqa: E402

DISTINCT_ROWS = 50_000  # generated once, then repeated to the size asked for
TIMESTAMP = "2026-12-06T00:00:00.000Z"


def write_feature_matrix(use_case, rows: int, path: Path) -> None:
    """A feature matrix file of ``rows`` rows as the product writes it, from the use case's own generator."""
    generator = importlib.import_module(f"{use_case.contract.__module__.rpartition('.')[0]}.generate")
    raw = generator.generate_extract(min(rows, DISTINCT_ROWS), 7, labelled=False).astype(str)
    accepted = validate_frame(use_case, raw.rename(columns=str.strip)).accepted
    features = build_features(use_case.features, accepted).reset_index(drop=True)
    features = pd.concat([features] * -(-rows // len(features)), ignore_index=True).iloc[:rows]
    for name in use_case.features.categorical:
        features[name] = features[name].cat.codes.astype("int8")
    features.insert(0, ROW_NUMBER, np.arange(1, rows + 1, dtype="int64"))
    if use_case.id_column:
        features.insert(1, ID_KEY, [f"id-{number}" for number in range(rows)])
    schema = feature_schema(use_case, has_label=False)
    pq.write_table(pa.Table.from_pandas(features, schema=schema, preserve_index=False), path)


def cpu_seconds(work, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def measure(name: str, rows: int, rounds: int, scratch: Path) -> dict[str, float]:
    """CPU-s of the scoring pass and of publishing the CSV, without reasons and with them, and of the check."""
    use_case = use_case_named(name)
    model = serving_model(verify_artifact(use_case))
    features = scratch / f"{name}_features.parquet"
    write_feature_matrix(use_case, rows, features)
    scores = {False: scratch / f"{name}_plain.parquet", True: scratch / f"{name}_reasons.parquet"}
    declared = {False: replace(use_case, reasons=None), True: use_case}

    def scoring(reasons: bool):
        return lambda: score_feature_parquet(
            declared[reasons], features, model, model.threshold, TIMESTAMP, scores[reasons]
        )

    def publishing(reasons: bool):
        return lambda: write_scored_csv(scores[reasons], scratch / f"{name}.csv")

    figures = {f"score{'+reasons' * r}": cpu_seconds(scoring(r), rounds) for r in (False, True)}
    figures.update({f"publish{'+reasons' * r}": cpu_seconds(publishing(r), rounds) for r in (False, True)})
    figures["check"] = cpu_seconds(lambda: judge_reasons(use_case, model, scores[True], features), rounds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use-cases", default="credit_risk,telco_churn")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        "| use case | rows | scoring CPU-s | with reasons | publishing CPU-s | with reasons "
        "| reasons check | reasons in all, per 1M rows |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.use_cases.split(","):
            f = measure(name, args.rows, args.rounds, Path(scratch))
            extra = f["score+reasons"] - f["score"] + f["publish+reasons"] - f["publish"] + f["check"]
            print(
                f"| {name} | {args.rows:,} | {f['score']:.2f} | {f['score+reasons']:.2f} | {f['publish']:.2f} | "
                f"{f['publish+reasons']:.2f} | {f['check']:.2f} | {extra * 1_000_000 / args.rows:.2f} |"
            )


if __name__ == "__main__":
    main()
