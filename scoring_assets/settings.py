"""Every setting's name and its plain reading from the environment, in one place, without Dagster.

| variable | resource / setting | default |
| --- | --- | --- |
| ``SCORING_DATA_DIR`` | ``folders.data_dir``: inbox, lake, scored, rejected, monitoring | the repository's ``data/`` |
| ``SCORING_REPORTS_URL`` | ``folders.reports_url``: where people reach the report server; reports get a link | none |
| ``SCORING_REPORTS_ADDRESS`` | where ``scoring-assets serve-reports`` listens (``HOST:PORT``) | ``127.0.0.1:3001`` |
| ``SCORING_MODEL_ROOT`` | ``model_store.root``: the DVC project with ``dvc.lock`` and the models | the repository |
| ``SCORING_DRIFT_WEBHOOK_URL`` | ``drift_alerts.webhook_url`` (a secret: the UI shows its name only) | none |
| ``SCORING_INBOX_SETTLE_SECONDS`` | ``inbox_settings.settle_seconds``: how long a file must stay unchanged | 2 |
| ``SCORING_INBOX_INTERVAL_SECONDS`` | the inbox sensors' interval, fixed when the definitions load | 5 |
| ``SCORING_MAX_PARTITIONS_PER_RUN`` | ``rescore_settings.max_partitions_per_run``: files per batch re-score run | 100 |

``defs/resources.py`` builds the Dagster resources from these names. Commands that only read
files (``lineage``) read their settings here, so they start without importing Dagster (about
0.6 s of a CLI process's start). Nothing else in the package reads the environment, except
``defs/resources.py``, the use-case registry (``SCORING_USE_CASE_MODULES``), the CLI's entry, which
sets the defaults for the variables above, and the model lifecycle's test seam
(``SCORING_LIFECYCLE_PAUSE_AT``, ``core.model_lifecycle``).
"""

from __future__ import annotations

import os
from pathlib import Path

from scoring_assets.core.paths import REPO_ROOT, configured_folder, default_data_dir

DATA_DIR_VARIABLE = "SCORING_DATA_DIR"
MODEL_ROOT_VARIABLE = "SCORING_MODEL_ROOT"
DRIFT_WEBHOOK_VARIABLE = "SCORING_DRIFT_WEBHOOK_URL"
INBOX_SETTLE_VARIABLE = "SCORING_INBOX_SETTLE_SECONDS"
INBOX_INTERVAL_VARIABLE = "SCORING_INBOX_INTERVAL_SECONDS"
MAX_PARTITIONS_PER_RUN_VARIABLE = "SCORING_MAX_PARTITIONS_PER_RUN"
DEFAULT_INBOX_INTERVAL_SECONDS = 5
REPORTS_URL_VARIABLE = "SCORING_REPORTS_URL"
REPORTS_ADDRESS_VARIABLE = "SCORING_REPORTS_ADDRESS"
DEFAULT_REPORTS_ADDRESS = "127.0.0.1:3001"


def configured(variable: str) -> str | None:
    """The variable's value when it is set and not empty, else None (the setting keeps its default)."""
    return os.environ.get(variable) or None


def data_folder() -> Path:
    """The data folder as the ``folders`` resource resolves it (``SCORING_DATA_DIR``, else the repository's data/)."""
    return configured_folder(configured(DATA_DIR_VARIABLE) or "", default_data_dir())


def model_store_root() -> Path:
    """The model store's DVC project as the ``model_store`` resource resolves it (``SCORING_MODEL_ROOT``)."""
    return configured_folder(configured(MODEL_ROOT_VARIABLE) or "", REPO_ROOT)


def inbox_interval_seconds() -> int:
    """How often the inbox sensors tick: read when the definitions load (Dagster fixes it then)."""
    return int(configured(INBOX_INTERVAL_VARIABLE) or DEFAULT_INBOX_INTERVAL_SECONDS)


def reports_address() -> str:
    """Where the report server listens (``HOST:PORT``) unless ``--reports-address`` says otherwise (loopback)."""
    return configured(REPORTS_ADDRESS_VARIABLE) or DEFAULT_REPORTS_ADDRESS
