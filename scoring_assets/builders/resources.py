"""The Dagster resource classes: where the files are, where the models are, how the inbox and alerts behave.

Their instances, fed by environment variables, are built once in ``defs/resources.py``. Assets,
sensors and the CLI find every file through ``ScoringFolders.of(use case)`` (``core.folders``)
and every model through ``ModelStore``; the settings are shown in the UI (secrets by name only).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.model_store import (
    CHALLENGER,
    LoadedModel,
    ModelArtifact,
    lifecycle_file,
    model_project,
    serving_model,
    verify_artifact,
    verify_challenger,
)
from scoring_assets.core.paths import REPO_ROOT, configured_folder, default_data_dir
from scoring_assets.core.reason_codes import require_explainer
from scoring_assets.core.report_files import report_url
from scoring_assets.core.use_case import UseCase


def resolved(setting: str | dg.EnvVar) -> str:
    """A setting's value: outside a run (the CLI) an EnvVar setting is still unresolved, so resolve it the same way."""
    return setting.get_value() if isinstance(setting, dg.EnvVar) else setting


class ScoringFolders(dg.ConfigurableResource):
    """The data folder holding every use case's inbox, lake, rejected and scored folders.

    ``data_dir`` empty means the repository's ``data/``. ``reports_url``, when set, is where the
    report server (``scoring-assets serve-reports``) is reached: report paths in metadata then come
    with a link people on other machines can open.
    """

    data_dir: str = ""
    reports_url: str = ""

    @property
    def root(self) -> Path:
        return configured_folder(resolved(self.data_dir), default_data_dir())

    @property
    def inbox(self) -> Path:
        """The shared inbox: files dropped here are routed to a use case by their header."""
        return self.root / "inbox"

    def of(self, use_case: str) -> UseCaseFolders:
        return UseCaseFolders(self.root, use_case)

    def report_metadata(self, name: str, path: str | Path) -> dict[str, dg.MetadataValue]:
        """``name``: the report's path; with ``reports_url`` set, ``<name>_url``: its link on the report server."""
        url = report_url(resolved(self.reports_url), self.root, path)
        return {name: dg.MetadataValue.path(str(path)), **({f"{name}_url": dg.MetadataValue.url(url)} if url else {})}


class InboxSettings(dg.ConfigurableResource):
    """How long a file must stay unchanged before the inbox sensors take it (writers that pause longer are caught).

    2 s is waited for inside one sensor tick (``core.inbox.SECOND_SIGHTING_IN_TICK_SECONDS``), so a
    file renamed into the inbox is requested in the tick that first sees it: a median of ~10 s from
    landing to scored file, where 5 s (the next tick) gave ~16 s (docs/performance.md).
    """

    settle_seconds: float = 2.0


class RescoreSettings(dg.ConfigurableResource):
    """How many files one re-score run takes (``batch_rescore``): the CLI's ``rescore``, the sensor, the schedule.

    A run per file costs ~1 s of Dagster bookkeeping; 100 small files per run re-score several
    times faster (docs/performance.md), and a batch still ends within minutes, so a model change
    reaches the first files soon and a stuck file holds back at most its batch's report.
    """

    max_partitions_per_run: int = Field(default=100, ge=1)


class DriftAlerts(dg.ConfigurableResource):
    """Where drift alerts go besides the UI: a webhook receiving a JSON POST per file at drift level alert.

    ``webhook_url`` empty (the default) means the UI only: an observation on the use case's
    monitoring asset. The payload's ``text`` field makes it a Slack incoming-webhook message as is.
    """

    webhook_url: str = ""


class ModelStore(dg.ConfigurableResource):
    """The DVC project holding ``dvc.lock`` and the models of every use case whose ``ModelSource`` names no root.

    ``root`` empty means this repository. Every model is verified against DVC's record before use
    (``core.model_store``): the promoted ``served.dvc`` beside the model when there is one, else
    ``dvc.lock``; promotion and rollback act on this root too. A use case that brings its own root keeps it.
    """

    root: str = ""

    @property
    def path(self) -> Path:
        return configured_folder(resolved(self.root), REPO_ROOT)

    def root_of(self, use_case: UseCase) -> Path:
        return model_project(use_case, self.path)

    def verify(self, use_case: UseCase) -> ModelArtifact:
        """The use case's model artifact, verified against DVC (never unpickled); raises ``ModelIntegrityError``."""
        return verify_artifact(use_case, self.root_of(use_case))

    def load(self, use_case: UseCase) -> LoadedModel:
        """The verified model ready to score (its serving form, else its Pipeline); raises ``ModelIntegrityError``.

        Also when the use case declares reason codes and the model has no exact explainer for them.
        """
        model = serving_model(verify_artifact(use_case, self.root_of(use_case)))
        require_explainer(use_case, model)
        return model

    def has_challenger(self, use_case: UseCase) -> bool:
        """Whether a challenger is registered (its ``challenger.dvc``), usable or not."""
        return lifecycle_file(self.root_of(use_case), use_case, CHALLENGER).exists()

    def load_challenger(self, use_case: UseCase) -> LoadedModel:
        """The verified challenger ready to score; raises ``ModelIntegrityError`` (also when there is none)."""
        return serving_model(verify_challenger(use_case, self.root_of(use_case)))
