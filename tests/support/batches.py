"""Batches for tests: valid rows of any registered use case, and the real public extracts.

Valid rows come from the use case's generator when its package has one (``<package>.generate``
with ``generate_extract``, as the shipped ones do); a use case trained on a real extract
without a generator gets rows sampled from that extract (the one its model card says the model
was trained on), keeping only the rows its contract accepts.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from scoring_assets.core.contract import validate_frame
from scoring_assets.core.csv_records import read_csv_frame
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase
from scoring_assets.use_cases import all_use_cases
from scoring_assets.use_cases import use_case as declared_use_case

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # present beside a developer's checkout; tests skip without it
REAL_EXTRACT = SHARED_DATA / "telco_customer_churn.csv"
REAL_EXTRACTS = {
    "telco_churn": SHARED_DATA / "telco_customer_churn.csv",
    "credit_risk": SHARED_DATA / "german_credit.csv",
}
# Every registered use case (the packages in scoring_assets/use_cases and any named in
# $SCORING_USE_CASE_MODULES when the tests start): generic behaviour is tested on each of them.
USE_CASE_NAMES = tuple(all_use_cases())

TELCO = declared_use_case("telco_churn")
CREDIT_RISK = declared_use_case("credit_risk")


def customer_rows(n_rows: int = 200, seed: int = 11, labelled: bool = False) -> pd.DataFrame:
    """Valid Telco customer rows as text, the way a CSV carries them."""
    return valid_rows(TELCO, n_rows, seed, labelled)


def valid_rows(use_case: UseCase, n_rows: int = 200, seed: int = 11, labelled: bool = False) -> pd.DataFrame:
    """Valid rows of ``use_case`` as text, the way its CSV carries them (header spelling included)."""
    generator = generator_of(use_case)
    if generator is not None:
        return generator(n_rows, seed, labelled=labelled).astype(str)
    return sampled_rows(use_case, n_rows, seed, labelled)


def generator_of(use_case: UseCase) -> Callable[..., pd.DataFrame] | None:
    """``generate_extract(n_rows, seed, labelled=...)`` of the use case's package, or None when it has none."""
    package = use_case.contract.__module__.rpartition(".")[0]
    if not package or importlib.util.find_spec(f"{package}.generate") is None:
        return None
    return importlib.import_module(f"{package}.generate").generate_extract


def training_extract(use_case: UseCase) -> Path:
    """The labelled extract the use case's model was trained on, as its model card records it."""
    card_path = (use_case.model.root or REPO_ROOT) / use_case.model.card_path
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else {}
    recorded = card.get("training_data", {}).get("path")
    if recorded is None:
        raise LookupError(
            f"{use_case.name} has no generator and its model card ({card_path}) names no training extract: "
            "tests have no rows of it"
        )
    return REPO_ROOT / recorded  # repository-relative as in dvc.lock, else absolute (and then kept as is)


@cache
def accepted_extract_rows(name: str) -> pd.DataFrame:
    """The training extract's rows the contract accepts, as text with the file's header."""
    use_case = declared_use_case(name)
    path = training_extract(use_case)
    accepted = validate_frame(use_case, read_csv_frame(path, use_case)).accepted.index  # 1-based data rows
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    return text.iloc[accepted - 1].reset_index(drop=True)


def sampled_rows(use_case: UseCase, n_rows: int, seed: int, labelled: bool) -> pd.DataFrame:
    """``n_rows`` accepted rows of the training extract drawn with ``seed``.

    Drawn with replacement only when more rows are asked for than the extract has. Ids get the
    seed and the row's position as a suffix, so they are unique in a batch and differ between
    seeds, as a generator's are (a use case whose ids have a fixed format needs a generator).
    """
    source = accepted_extract_rows(use_case.name)
    positions = np.random.default_rng(seed).choice(len(source), size=n_rows, replace=n_rows > len(source))
    rows = source.iloc[positions].reset_index(drop=True)
    if use_case.id_column is not None:
        id_header = next(header for header in rows.columns if header.strip() == use_case.id_column)
        rows[id_header] = [f"{value}-{seed}-{position}" for position, value in enumerate(rows[id_header])]
    if not labelled and use_case.label is not None:
        rows = rows.drop(columns=[header for header in rows.columns if header.strip() == use_case.label.column])
    return rows


def out_of_set(use_case: UseCase) -> tuple[str, str]:
    """A column the contract restricts to a set of text values, and a value outside that set."""
    column, levels = next((name, levels) for name, levels in use_case.value_sets.items() if isinstance(levels[0], str))
    return column, f"not {levels[0]}"


def contract_breaks(use_case: UseCase) -> list[tuple[str, str, str]]:
    """Three ways to break a row of ``use_case``, read off its contract: (column, value written, rule reported).

    A value outside a value set, a number below a column's minimum, and text in another numeric column.
    """
    column, value = out_of_set(use_case)
    minimum, bounded = next(
        (check.statistics["min_value"], name)
        for name, declared in use_case.schema.columns.items()
        for check in declared.checks
        if check.name == "greater_than_or_equal_to"
    )
    numeric = next(name for name in [*use_case.integer_columns, *use_case.float_columns] if name != bounded)
    return [
        (column, value, "allowed_values"),
        (bounded, f"{minimum - 1:g}", f"min_{minimum}"),
        (numeric, "n/a", "number"),
    ]


def header_name(rows: pd.DataFrame, column: str) -> str:
    """How a file of ``rows`` spells a contract column in its header (the credit extract pads some names)."""
    return next(name for name in rows.columns if name.strip() == column)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
