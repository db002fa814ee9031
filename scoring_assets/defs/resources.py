"""The Dagster resources: the working folders, fed by ``SCORING_DATA_DIR``.

Assets, sensors and the CLI find every file through ``ScoringFolders.of(use case)``
(``core.folders``); the data folder itself is the resource's one setting, shown in the UI.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from scoring_assets.core.folders import UseCaseFolders
from scoring_assets.core.paths import default_data_dir


class ScoringFolders(dg.ConfigurableResource):
    """The data folder holding every use case's inbox, lake, rejected and scored folders.

    ``data_dir`` empty means the repository's ``data/``.
    """

    data_dir: str = ""

    @property
    def root(self) -> Path:
        # Outside a run (the CLI) an EnvVar setting is still unresolved: resolve it the same way.
        configured = self.data_dir.get_value() if isinstance(self.data_dir, dg.EnvVar) else self.data_dir
        return Path(configured).expanduser().resolve() if configured else default_data_dir()

    @property
    def inbox(self) -> Path:
        """The shared inbox: files dropped here are routed to a use case by their header."""
        return self.root / "inbox"

    def of(self, use_case: str) -> UseCaseFolders:
        return UseCaseFolders(self.root, use_case)


class InboxSettings(dg.ConfigurableResource):
    """How long a file must stay unchanged before the inbox sensors take it (writers that pause are not caught)."""

    settle_seconds: float = 5.0


class DriftAlerts(dg.ConfigurableResource):
    """Where drift alerts go besides the UI: a webhook receiving a JSON POST per file at drift level alert.

    ``webhook_url`` empty (the default) means the UI only: an observation on the use case's
    monitoring asset. The payload's ``text`` field makes it a Slack incoming-webhook message as is.
    """

    webhook_url: str = ""
