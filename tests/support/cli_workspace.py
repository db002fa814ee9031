"""Running the ``scoring-assets`` command as a subprocess in a scratch folder, and reading what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from scoring_assets.core.use_case import UseCase
from tests.support.batches import TELCO

CONSOLE_SCRIPT = Path(sys.executable).with_name("scoring-assets")


@dataclass
class Workspace:
    """A scratch folder to run the CLI in, with its own data folders and Dagster instance."""

    cwd: Path
    data_dir: Path
    dagster_home: Path

    def run(self, *args: str, console_script: bool = False, model_root: Path | None = None, timeout: float = 600):
        command = [str(CONSOLE_SCRIPT)] if console_script else [sys.executable, "-m", "scoring_assets"]
        return subprocess.run(
            [*command, *args],
            cwd=self.cwd,
            env=self.environment(model_root),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, model_root: Path | None = None, **variables: str) -> subprocess.Popen:
        """The command started, not awaited (stdout and stderr piped as text), with extra environment ``variables``."""
        return subprocess.Popen(
            [sys.executable, "-m", "scoring_assets", *args],
            cwd=self.cwd,
            env={**self.environment(model_root), **variables},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def environment(self, model_root: Path | None = None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "SCORING_MODEL_ROOT"}
        env.update(SCORING_DATA_DIR=str(self.data_dir), DAGSTER_HOME=str(self.dagster_home))
        if model_root is not None:
            env["SCORING_MODEL_ROOT"] = str(model_root)
        return env

    def scored_files(self, use_case: UseCase = TELCO) -> list[Path]:
        return sorted((self.data_dir / "scored" / use_case.name).glob("*"))


def new_workspace(root: Path) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    return Workspace(cwd=root, data_dir=root / "scoring_data", dagster_home=root / "dagster_home")


def reported(stdout: str) -> dict[str, str]:
    """``scored: PATH (...)`` lines of the CLI's stdout as {"scored": "PATH (...)", ...}."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def reported_path(stdout: str, label: str) -> Path:
    return Path(reported(stdout)[label].split(" (")[0].split(", see ")[-1])


def reported_run_id(stdout: str) -> str:
    return reported(stdout)["run"].split(" ")[0]
