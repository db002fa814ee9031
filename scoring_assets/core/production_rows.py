"""Rows the use case scored in production, read back from the lake: labelled ones and the latest scored files.

A labelled production row is a scored row whose outcome came back (``realized_performance.all_joined_rows``)
joined to the validated input row it was scored from (``validated_batch`` Parquet, same partition and
row number), with the outcome written as the label's value, so it reads like a labelled extract.
Rows are ordered by when their outcome was known: the last ones are the production holdout the
promotion gate judges on, the others are what a challenger may be trained on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.lake import batch_to_frame, lake_reader
from scoring_assets.core.outcome_files import OUTCOME
from scoring_assets.core.outcome_join import KNOWN_AT, PARTITION, SCORED_ROW_NUMBER, scored_partitions_by_time
from scoring_assets.core.realized_performance import all_joined_rows
from scoring_assets.core.use_case import UseCase


def labelled_production_rows(use_case: UseCase, own: UseCaseFolders) -> pd.DataFrame:
    """Contract columns and the label of every scored row with an outcome, oldest outcome first."""
    joined = all_joined_rows(own)
    parts = []
    for partition, outcomes in joined.groupby(PARTITION, sort=True):
        path = own.lake_file("validated_batch", str(partition))
        if not Path(path).exists():
            continue  # its input rows were moved away: nothing to learn from
        inputs = batch_to_frame(lake_reader(path).read(columns=None))
        found = outcomes[outcomes[SCORED_ROW_NUMBER].isin(inputs.index)]
        rows = inputs.loc[found[SCORED_ROW_NUMBER].to_numpy(), use_case.contract_columns].reset_index(drop=True)
        label = found[OUTCOME].astype(int).map({1: use_case.label.positive, 0: use_case.label.negative})
        parts.append(rows.assign(**{use_case.label.column: label.to_numpy(), KNOWN_AT: found[KNOWN_AT].to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=[*use_case.contract_columns, use_case.label.column, KNOWN_AT])
    rows = pd.concat(parts, ignore_index=True)
    return rows.sort_values(KNOWN_AT, kind="stable").reset_index(drop=True)


def latest_scored_inputs(use_case: UseCase, own: UseCaseFolders, files: int) -> pd.DataFrame:
    """The validated input rows of the last ``files`` scored files (by when they were scored), one frame."""
    latest = scored_partitions_by_time(own)[-files:] if files else []
    parts = [
        batch_to_frame(lake_reader(own.lake_file("validated_batch", key)).read()).reset_index(drop=True)
        for key in latest
        if Path(own.lake_file("validated_batch", key)).exists()
    ]
    if not parts:
        return pd.DataFrame(columns=use_case.contract_columns)
    return pd.concat(parts, ignore_index=True)
