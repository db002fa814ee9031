"""The resources of the code location, built from the settings (``scoring_assets.settings``: every name and default).

A text variable set when the definitions load becomes a ``dg.EnvVar``: the UI shows the
variable's name, never its value, and a run resolves it when it starts (so a test or an operator
may change the value without reloading). Unset, the resource keeps its built-in default, shown as
such. The numbers are read once, when the definitions load (a change needs a reload of the
code location): Dagster has no EnvVar for a float, and it fixes a sensor's
``minimum_interval_seconds`` when the definitions are built. The report server's address is read
when ``serve-reports`` starts (it is no part of the definitions).
"""

from __future__ import annotations

import dagster as dg

from scoring_assets.builders.resources import DriftAlerts, InboxSettings, ModelStore, RescoreSettings, ScoringFolders
from scoring_assets.settings import (
    DATA_DIR_VARIABLE,
    DRIFT_WEBHOOK_VARIABLE,
    INBOX_SETTLE_VARIABLE,
    MAX_PARTITIONS_PER_RUN_VARIABLE,
    MODEL_ROOT_VARIABLE,
    REPORTS_URL_VARIABLE,
    configured,
)


def _from_environment(variable: str) -> dg.EnvVar | None:
    """``variable`` as an EnvVar when it is set (and not empty), else None: the resource's own default."""
    return dg.EnvVar(variable) if configured(variable) else None


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
        "inbox_settings": InboxSettings(**_numbers(settle_seconds=configured(INBOX_SETTLE_VARIABLE))),
        "rescore_settings": RescoreSettings(
            **_counts(max_partitions_per_run=configured(MAX_PARTITIONS_PER_RUN_VARIABLE))
        ),
    }


def _numbers(**values: str | None) -> dict[str, float]:
    """Numeric settings: Dagster has no EnvVar for floats, so their value is read when the definitions load."""
    return {name: float(value) for name, value in values.items() if value}


def _counts(**values: str | None) -> dict[str, int]:
    """Whole-number settings, read when the definitions load like the numeric ones."""
    return {name: int(value) for name, value in values.items() if value}
