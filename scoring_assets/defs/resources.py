"""Every setting of the code location, in one place: the resources, fed by environment variables.

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

A text variable set when the definitions load becomes a ``dg.EnvVar``: the UI shows the
variable's name, never its value, and a run resolves it when it starts (so a test or an operator
may change the value without reloading). Unset, the resource keeps its built-in default, shown as
such. The numbers are read once, when the definitions load (a change needs a reload of the
code location): Dagster has no EnvVar for a float, and it fixes a sensor's
``minimum_interval_seconds`` when the definitions are built. The report server's address is read
when ``serve-reports`` starts (it is no part of the definitions).
Nothing else in the package reads the environment, except the use-case registry
(``SCORING_USE_CASE_MODULES``), the CLI's entry, which sets the defaults for the variables above, and
the model lifecycle's test seam (``SCORING_LIFECYCLE_PAUSE_AT``, ``core.model_lifecycle``).
"""

from __future__ import annotations

import os

import dagster as dg

from scoring_assets.builders.resources import DriftAlerts, InboxSettings, ModelStore, RescoreSettings, ScoringFolders

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


def _from_environment(variable: str) -> dg.EnvVar | None:
    """``variable`` as an EnvVar when it is set (and not empty), else None: the resource's own default."""
    return dg.EnvVar(variable) if os.environ.get(variable) else None


def _settings(**values: dg.EnvVar | None) -> dict[str, dg.EnvVar]:
    return {name: value for name, value in values.items() if value is not None}


def scoring_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources every asset, sensor and CLI command uses, as the environment sets them now."""
    return {
        "folders": ScoringFolders(
            **_settings(
                data_dir=_from_environment(DATA_DIR_VARIABLE), reports_url=_from_environment(REPORTS_URL_VARIABLE)
            )
        ),
        "model_store": ModelStore(**_settings(root=_from_environment(MODEL_ROOT_VARIABLE))),
        "drift_alerts": DriftAlerts(**_settings(webhook_url=_from_environment(DRIFT_WEBHOOK_VARIABLE))),
        "inbox_settings": InboxSettings(**_numbers(settle_seconds=os.environ.get(INBOX_SETTLE_VARIABLE))),
        "rescore_settings": RescoreSettings(
            **_counts(max_partitions_per_run=os.environ.get(MAX_PARTITIONS_PER_RUN_VARIABLE))
        ),
    }


def _numbers(**values: str | None) -> dict[str, float]:
    """Numeric settings: Dagster has no EnvVar for floats, so their value is read when the definitions load."""
    return {name: float(value) for name, value in values.items() if value}


def _counts(**values: str | None) -> dict[str, int]:
    """Whole-number settings, read when the definitions load like the numeric ones."""
    return {name: int(value) for name, value in values.items() if value}


def inbox_interval_seconds() -> int:
    """How often the inbox sensors tick: read when the definitions load (Dagster fixes it then)."""
    return int(os.environ.get(INBOX_INTERVAL_VARIABLE) or DEFAULT_INBOX_INTERVAL_SECONDS)


def reports_address() -> str:
    """Where the report server listens (``HOST:PORT``) unless ``--reports-address`` says otherwise (loopback)."""
    return os.environ.get(REPORTS_ADDRESS_VARIABLE) or DEFAULT_REPORTS_ADDRESS
