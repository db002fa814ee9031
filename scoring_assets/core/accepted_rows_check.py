"""The second look at the accepted rows: the validated file, as stored, judged again against the contract.

It re-reads what the validation stage wrote instead of trusting its bookkeeping: an Arrow pass over
the stored typed rows with the contract compiled to Arrow (``core.arrow_contract``: the file's
column types, nulls, value sets, ranges, lengths, uniqueness within each batch, cross-field rules).
It shares no state with the first pass, which judged the raw text and typed it; a contract with a
rule Arrow cannot prove is judged here by pandera itself, batch by batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandera.pandas as pandera
import pyarrow as pa

from scoring_assets.core.arrow_contract import broken_rules, compile_contract, decoded, typed_columns
from scoring_assets.core.ingest import categorical_text_columns, read_accepted_frame
from scoring_assets.core.lake import BATCH_ROWS, lake_reader
from scoring_assets.core.use_case import UseCase

EXAMPLES = 5  # broken rules named in the verdict


@dataclass
class StoredRowsVerdict:
    """How many stored accepted rows there are and how many contract failures they hold, with examples."""

    rows: int = 0
    failures: int = 0  # rows breaking a rule, summed over the rules (a column of the wrong type: one)
    examples: list[str] = field(default_factory=list)  # "<column>: <rule>", at most EXAMPLES

    def add(self, label: str, count: int) -> None:
        self.failures += count
        if len(self.examples) < EXAMPLES:
            self.examples.append(label)


def judge_stored_rows(use_case: UseCase, accepted_path: Path) -> StoredRowsVerdict:
    """Every batch of the stored accepted rows against the contract: in Arrow, or by pandera when it must."""
    contract = compile_contract(use_case.schema)
    verdict = StoredRowsVerdict()
    for batch in lake_reader(accepted_path, categorical_text_columns(use_case)).iter_batches(batch_size=BATCH_ROWS):
        verdict.rows += batch.num_rows
        if not contract.complete:
            _judge_with_pandera(use_case, batch, verdict)
            continue
        columns, wrong_types = typed_columns(contract, batch)
        for label in wrong_types:
            verdict.add(label, 1)
        if wrong_types:
            continue
        for label, count in broken_rules(contract, columns):
            verdict.add(label, count)
    return verdict


def _judge_with_pandera(use_case: UseCase, batch, verdict: StoredRowsVerdict) -> None:
    try:
        plain = pa.RecordBatch.from_arrays([decoded(column) for column in batch.columns], names=batch.schema.names)
        use_case.schema.validate(read_accepted_frame(use_case, plain), lazy=True)
    except pandera.errors.SchemaErrors as errors:
        for row in errors.failure_cases.itertuples():
            verdict.add(f"{row.column}: {row.check}", 1)
