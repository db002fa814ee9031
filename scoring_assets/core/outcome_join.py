"""Which scored row each outcome is about: the latest row with its id scored before the outcome was known.

An outcome with an ``outcome_date`` is joined to the latest row with the same id scored strictly
before that instant (a date alone means its midnight, UTC); one without a date, to the latest
row scored before its file arrived (registration times are kept to the second, so a row scored
within that second counts as before). Every scored file of the use case is a candidate: the lake
keeps each scored partition's scores (``lake/<use case>/scores/<key>.parquet``), listed by their
stage summaries. Only the rows whose ids the outcomes name are read, so memory follows the
outcomes file, not the history of scoring. An outcome with no such row is ``unmatched``: normal,
not every customer is scored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.lake import lake_reader
from scoring_assets.core.outcome_files import OUTCOME_DATE
from scoring_assets.core.row_number import ROW_NUMBER
from scoring_assets.core.use_case import UseCase

PARTITION = "partition"
SCORED_AT = "scored_at"  # the scoring timestamp as an instant
SCORED_ROW_NUMBER = "scored_row_number"
KNOWN_AT = "known_at"  # the instant an outcome was known: its date, else its file's arrival
ARRIVED_AT = "arrived_at"


def scored_partitions(own: UseCaseFolders) -> list[str]:
    """The partitions scored so far (their scores stage summaries), in name order."""
    return sorted(path.stem for path in (own.root / "lake" / own.use_case / "scores").glob("*.json"))


def scored_partitions_by_time(own: UseCaseFolders) -> list[str]:
    """The partitions scored so far, the last scored last (by their scores stage summaries' times, then name)."""
    summaries = {key: own.lake_file("scores", key, ".json") for key in scored_partitions(own)}
    return sorted(summaries, key=lambda key: (summaries[key].stat().st_mtime_ns, key))


def scored_rows(use_case: UseCase, own: UseCaseFolders, ids: pd.Series) -> pd.DataFrame:
    """Every scored row of the use case whose id is in ``ids``: id, score, predicted label, partition, scored_at."""
    wanted = pa.array(pd.unique(ids), pa.string())
    columns = [use_case.scored_id_column, use_case.score_column, "predicted_label", "scoring_timestamp", ROW_NUMBER]
    parts = []
    for partition in scored_partitions(own):
        path = own.lake_file("scores", partition)
        if not Path(path).exists():
            continue  # its scores were moved away: nothing to join to
        table = lake_reader(path).read(columns=columns)
        table = table.filter(pc.is_in(table[use_case.scored_id_column], value_set=wanted))
        parts.append(table.to_pandas().assign(**{PARTITION: partition}))
    if not parts:
        return pd.DataFrame(columns=[*columns, PARTITION, SCORED_AT])
    rows = pd.concat(parts, ignore_index=True).rename(columns={ROW_NUMBER: SCORED_ROW_NUMBER})
    return rows.assign(**{SCORED_AT: pd.to_datetime(rows["scoring_timestamp"], utc=True, format="ISO8601")})


def known_at(outcomes: pd.DataFrame, arrived_at: str) -> pd.Series:
    """When each outcome was known: its ``outcome_date``, else the end of the second its file arrived in."""
    arrival = pd.Timestamp(datetime.fromisoformat(arrived_at) + timedelta(seconds=1)).tz_convert("UTC")
    return outcomes[OUTCOME_DATE].fillna(arrival).astype("datetime64[ns, UTC]")


def join_to_scored_rows(
    use_case: UseCase, outcomes: pd.DataFrame, scored: pd.DataFrame, arrived_at: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matched, unmatched): each outcome with the latest scored row of its id from before it was known.

    Both keep the outcomes' order (when known, then row); matched rows gain the scored row's
    partition, score, predicted label, scoring timestamp and row number.
    """
    key = use_case.scored_id_column
    timed = outcomes.assign(**{KNOWN_AT: known_at(outcomes, arrived_at), ARRIVED_AT: arrived_at})
    timed = timed.sort_values([KNOWN_AT, ROW_NUMBER], kind="stable").reset_index(drop=True)
    candidates = scored.assign(
        **{SCORED_AT: scored[SCORED_AT].astype("datetime64[ns, UTC]"), key: scored[key].astype(object)}
    ).sort_values(SCORED_AT, kind="stable")
    joined = pd.merge_asof(
        timed.assign(**{key: timed[key].astype(object)}),
        candidates,
        left_on=KNOWN_AT,
        right_on=SCORED_AT,
        by=key,
        allow_exact_matches=False,
        direction="backward",
    )
    found = joined[PARTITION].notna().to_numpy()
    return joined[found].reset_index(drop=True), timed[~found].reset_index(drop=True)
