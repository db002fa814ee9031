"""The labelled rows production gave back: the ``training_set`` a challenger learns from, and the gate's holdout.

Two sources, both read from the lake:
- outcomes joined to the validated input row they are about (``production_rows``), known at the
  outcome's date (else its file's arrival);
- labelled extracts: a scored file that carried the label column; its validated rows with a
  declared label value, known when the file arrived.
Rows are deduplicated by id, the latest known label winning; a use case without ids identifies a
row by its file's sha256 and row number. Ordered by when they were known, the last
``holdout_rows`` are the promotion gate's production holdout (``PromotionPolicy``), which no model
trains on: the training set is drawn only from the rows before that cut, within the window
``params.yaml`` declares (``<use case>.training_set``: ``max_rows``, ``max_days``; absent or null:
no limit). The training set is written beside the model in the DVC project as ``training_set.csv``,
tracked by ``training_set.csv.dvc`` (md5, rows, label balance, date range in its ``meta``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from scoring_assets.core.dvc_cache import add_file, ensure_ignored, write_file_record
from scoring_assets.core.files import atomic_path, file_md5
from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.lake import batch_to_frame, lake_reader
from scoring_assets.core.outcome_join import KNOWN_AT, scored_partitions
from scoring_assets.core.production_rows import labelled_production_rows
from scoring_assets.core.realized_performance import joined_rows_at_most
from scoring_assets.core.use_case import UseCase

ROW_KEY = "row_key"  # the id, or "<file sha256>:<row number>" for a use case without ids
SOURCE = "source"
FROM_OUTCOMES, FROM_LABELLED_EXTRACTS = "outcomes", "labelled_extract"
TRAINING_SET_FILE = "training_set.csv"


@dataclass(frozen=True)
class TrainingWindow:
    """How far back a training set reaches from the holdout's cut: at most ``max_rows`` rows, ``max_days`` days."""

    max_rows: int | None = None
    max_days: float | None = None

    @classmethod
    def from_params(cls, section: dict[str, Any] | None) -> TrainingWindow:
        section = section or {}
        unknown = sorted(set(section) - {"max_rows", "max_days"})
        if unknown:
            raise ValueError(f"params.yaml training_set knows max_rows and max_days, not {', '.join(unknown)}")
        return cls(section.get("max_rows"), section.get("max_days"))

    def as_record(self) -> dict[str, Any]:
        return {"max_rows": self.max_rows, "max_days": self.max_days}


def has_label_column(use_case: UseCase, path: Path) -> bool:
    return use_case.label.column in lake_reader(path).schema_arrow.names


def labelled_extract_rows(use_case: UseCase, own: UseCaseFolders) -> pd.DataFrame:
    """The validated rows of every scored file that carried the label column, with a declared label value."""
    label = use_case.label.column
    parts = []
    for key in scored_partitions(own):
        path = own.lake_file("validated_batch", key)
        if not Path(path).exists() or not has_label_column(use_case, path):
            continue
        rows = batch_to_frame(lake_reader(path).read())
        rows = rows[rows[label].isin([use_case.label.positive, use_case.label.negative])]
        registration = own.registered_input(key)
        keys = (
            rows[use_case.id_column].astype(str).to_numpy()
            if use_case.id_column
            else [f"{registration.sha256}:{number}" for number in rows.index]
        )
        known = pd.Timestamp(registration.registered_at).tz_convert("UTC")
        parts.append(
            rows[[*use_case.contract_columns, label]]
            .reset_index(drop=True)
            .assign(**{KNOWN_AT: known, ROW_KEY: keys, SOURCE: FROM_LABELLED_EXTRACTS})
        )
    return pd.concat(parts, ignore_index=True) if parts else _no_rows(use_case)


def _no_rows(use_case: UseCase) -> pd.DataFrame:
    return pd.DataFrame(columns=[*use_case.contract_columns, use_case.label.column, KNOWN_AT, ROW_KEY, SOURCE])


def labelled_rows(use_case: UseCase, own: UseCaseFolders) -> pd.DataFrame:
    """Every labelled row of both sources, one per row key (the latest known wins), oldest first."""
    production = labelled_production_rows(use_case, own)
    if use_case.id_column and not production.empty:
        production = production.assign(
            **{ROW_KEY: production[use_case.id_column].astype(str).to_numpy(), SOURCE: FROM_OUTCOMES}
        )
        parts = [labelled_extract_rows(use_case, own), production]
    else:
        parts = [labelled_extract_rows(use_case, own)]  # without ids there are no outcomes to join
    parts = [part for part in parts if not part.empty]
    if not parts:
        return _no_rows(use_case)
    rows = pd.concat(parts, ignore_index=True)
    rows[KNOWN_AT] = pd.to_datetime(rows[KNOWN_AT], utc=True)
    rows = rows.sort_values(KNOWN_AT, kind="stable").drop_duplicates(ROW_KEY, keep="last")
    return rows.reset_index(drop=True)


def labelled_rows_at_most(use_case: UseCase, own: UseCaseFolders) -> int:
    """How many labelled rows there may be, from Parquet footers alone (an upper bound: no dedup, no label check)."""
    extracts = 0
    for key in scored_partitions(own):
        path = own.lake_file("validated_batch", key)
        if Path(path).exists() and has_label_column(use_case, path):
            extracts += lake_reader(path).metadata.num_rows
    return extracts + (joined_rows_at_most(own) if use_case.takes_outcomes else 0)


def production_training_problem(use_case: UseCase, own: UseCaseFolders) -> str | None:
    """Why a challenger cannot be trained on production rows yet, told without reading them; None: it may be.

    ``labelled_rows_at_most`` is an upper bound, so None does not promise rows: training then says what it found.
    """
    at_most, held_out = labelled_rows_at_most(use_case, own), use_case.promotion.holdout_rows
    if at_most <= held_out:
        return (
            f"{use_case.name} has no labelled production rows to train on: at most {at_most}, all held out for "
            f"the promotion gate (holdout_rows = {held_out}); register outcomes or score labelled extracts first"
        )
    return None


@dataclass(frozen=True)
class TrainingRows:
    """The rows a challenger may train on (window applied) and the holdout after the cut, which it may not."""

    training: pd.DataFrame
    holdout: pd.DataFrame
    window: TrainingWindow

    @property
    def cut(self) -> pd.Timestamp | None:
        """When the first held-out row was known: no training row was known later."""
        return self.holdout[KNOWN_AT].min() if not self.holdout.empty else None


def split_at_holdout(rows: pd.DataFrame, holdout_rows: int, window: TrainingWindow) -> TrainingRows:
    """The last ``holdout_rows`` (by when known) held out; the training rows before them, within ``window``."""
    cut = max(len(rows) - holdout_rows, 0)
    training, holdout = rows.iloc[:cut], rows.iloc[cut:]
    if window.max_days is not None and not training.empty and not holdout.empty:
        earliest = holdout[KNOWN_AT].min() - timedelta(days=float(window.max_days))
        training = training[training[KNOWN_AT] >= earliest]
    if window.max_rows is not None:
        training = training.iloc[max(len(training) - int(window.max_rows), 0) :]
    return TrainingRows(training.reset_index(drop=True), holdout.reset_index(drop=True), window)


def production_holdout(use_case: UseCase, own: UseCaseFolders) -> pd.DataFrame:
    """The promotion gate's production holdout: the latest labelled rows, which no challenger trains on."""
    return split_at_holdout(labelled_rows(use_case, own), use_case.promotion.holdout_rows, TrainingWindow()).holdout


def training_set_path(use_case: UseCase, root: Path) -> Path:
    """``training_set.csv`` beside the use case's model in the DVC project ``root``."""
    return Path(root) / Path(use_case.model.model_path).parent / TRAINING_SET_FILE


def describe(use_case: UseCase, chosen: TrainingRows, path: Path) -> dict[str, Any]:
    """What the ``.dvc`` file's ``meta`` and the asset's metadata say about a training set."""
    rows = chosen.training
    known = rows[KNOWN_AT]
    positive = (rows[use_case.label.column] == use_case.label.positive).mean() if len(rows) else None
    return {
        "rows": len(rows),
        "label_balance": None if positive is None else round(float(positive), 6),
        "date_range": [known.min().isoformat(), known.max().isoformat()] if len(rows) else None,
        "rows_by_source": {str(k): int(v) for k, v in rows[SOURCE].value_counts().sort_index().items()},
        "holdout_rows": len(chosen.holdout),
        "holdout_cut": None if chosen.cut is None else chosen.cut.isoformat(),
        "window": chosen.window.as_record(),
        "path": str(path),
    }


def publish_training_set(use_case: UseCase, root: Path, own: UseCaseFolders, window: TrainingWindow) -> dict:
    """Write the training set and track it with DVC (cache object, then ``.dvc`` file); returns its description."""
    chosen = split_at_holdout(labelled_rows(use_case, own), use_case.promotion.holdout_rows, window)
    path = training_set_path(use_case, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [*use_case.contract_columns, use_case.label.column, ROW_KEY, SOURCE, KNOWN_AT]
    written = chosen.training.assign(**{KNOWN_AT: chosen.training[KNOWN_AT].map(pd.Timestamp.isoformat)})
    with atomic_path(path) as temporary:
        written[columns].to_csv(temporary, index=False)
    described = {**describe(use_case, chosen, path.relative_to(root)), "md5": add_file(root, path)}
    ensure_ignored(path.parent, TRAINING_SET_FILE)
    write_file_record(root, path.with_name(TRAINING_SET_FILE + ".dvc"), path, described["md5"], described)
    return described


def published_training_set(use_case: UseCase, root: Path) -> dict | None:
    """The training set's description as its ``.dvc`` file records it, if its file still has those bytes."""
    path = training_set_path(use_case, root)
    record_file = path.with_name(TRAINING_SET_FILE + ".dvc")
    if not record_file.is_file() or not path.is_file():
        return None
    record = yaml.safe_load(record_file.read_text(encoding="utf-8")) or {}
    meta = record.get("meta") or {}
    recorded = (record.get("outs") or [{}])[0].get("md5")
    return meta if recorded == meta.get("md5") == file_md5(path) else None
