#!/usr/bin/env python3
"""Set up and run scoring-assets with nothing but Python 3.11+ and git.

    python3 dev.py demo      set up, train the model (dvc repro), score the sample batches
    python3 dev.py test      set up, train the model, lint, run the test suite (extra args go to pytest)
    python3 dev.py ui        open the Dagster UI (dg dev) on the project's instance (dg dev's options, e.g. --port N)
    python3 dev.py serve     run webserver, daemon and report server as one service; SIGTERM stops it cleanly
    python3 dev.py bench     benchmark both use cases against plain pandas and the model floor (args go to bench/run.py)
    python3 dev.py setup     only create/refresh the environments

Two virtual environments, because DVC and Dagster cannot share one (dvc pins
antlr4-python3-runtime 4.9, which breaks Dagster's string asset selections):
    .venv/      the project, Dagster, pandas, pandera, scikit-learn, pytest
    .venv-dvc/  DVC only; `.venv/bin/dvc` links to it, so an activated .venv has both, and
                DVC's stage commands (`python -m ...`) run with the project's Python.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PROJECT_VENV = ROOT / ".venv"
DVC_VENV = ROOT / ".venv-dvc"
DAGSTER_HOME = ROOT / ".dagster_home"
SAMPLES = ROOT / "data" / "samples"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, cwd=kwargs.pop("cwd", ROOT), env=kwargs.pop("env", project_env()), **kwargs)
    if result.returncode != 0:
        sys.exit(f"dev.py: `{' '.join(map(str, command))}` failed with exit code {result.returncode}")


def bin_path(environment: Path, name: str) -> Path:
    return environment / ("Scripts" if os.name == "nt" else "bin") / name


def project_env() -> dict[str, str]:
    """The environment every command runs in: project venv first on PATH, offline DVC."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_path(PROJECT_VENV, "")), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(PROJECT_VENV)
    env.setdefault("DAGSTER_HOME", str(DAGSTER_HOME))
    env.setdefault("SCORING_DATA_DIR", str(ROOT / "data"))
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("PYTHONHOME", None)
    return env


def ensure_venv(environment: Path, requirements: list[str], stamp_sources: list[Path]) -> None:
    """Create ``environment`` and install ``requirements``, unless current (its ``stamp_sources`` unchanged)."""
    stamp = environment / ".installed"
    wanted = hashlib.sha256(b"".join(path.read_bytes() for path in stamp_sources) + sys.version.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say(f"installing {environment.name} (a few minutes the first time)")
    if not bin_path(environment, "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    python = str(bin_path(environment, "python"))
    run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    # setuptools warns on every editable install that a folder named like the package could shadow
    # it: true of any checkout, and no action to take, so it is not shown on a newcomer's setup.
    quiet = {**project_env(), "PYTHONWARNINGS": "ignore:Editable installation"}
    run([python, "-m", "pip", "install", "--quiet", *requirements], env=quiet)
    stamp.write_text(wanted)


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 the user has
        sys.exit(f"dev.py: Python 3.11+ is required, this is {sys.version.split()[0]}")
    # constraints.txt: the exact versions (see its header): the models dvc repro trains are byte for byte
    # those dvc.lock records only with the same numerical libraries.
    constraints = ROOT / "constraints.txt"
    ensure_venv(PROJECT_VENV, ["-c", str(constraints), "-e", f"{ROOT}[test]"], [ROOT / "pyproject.toml", constraints])
    ensure_venv(DVC_VENV, ["-r", str(ROOT / "requirements-dvc.txt")], [ROOT / "requirements-dvc.txt"])
    link = bin_path(PROJECT_VENV, "dvc")
    if not link.exists():
        link.symlink_to(bin_path(DVC_VENV, "dvc"))
    export_dagster_home_on_activate()
    # The Dagster home and its dagster.yaml follow the CLI's rule (one place: cli.ensure_dagster_home).
    run([str(bin_path(PROJECT_VENV, "python")), "-c", "from scoring_assets.cli import ensure_dagster_home as e; e()"])


ACTIVATE_MARK = "# scoring-assets: the project's Dagster instance and data folder"


def export_dagster_home_on_activate() -> None:
    """After `source .venv/bin/activate`, `dg` and `dagster` use the project's instance and data folder."""
    activate = bin_path(PROJECT_VENV, "activate")
    text = activate.read_text()
    if ACTIVATE_MARK not in text:
        activate.write_text(
            f'{text}\n{ACTIVATE_MARK}\nexport DAGSTER_HOME="${{DAGSTER_HOME:-{DAGSTER_HOME}}}"\n'
            f'export SCORING_DATA_DIR="${{SCORING_DATA_DIR:-{ROOT / "data"}}}"\n'
        )


def train() -> None:
    """Build (or confirm) the model with DVC: a no-op when dvc.lock is up to date."""
    say("dvc repro (trains the model unless it is up to date)")
    run([str(bin_path(PROJECT_VENV, "dvc")), "repro"])


def demo() -> None:
    setup()
    train()
    cli = str(bin_path(PROJECT_VENV, "scoring-assets"))
    for sample in sorted(SAMPLES.glob("*.csv")):
        say(f"scoring-assets score {sample.relative_to(ROOT)}")
        run([cli, "score", str(sample)])
    say("done. Scored files and manifests are in data/scored/<use case>/, reject reports in data/rejected/<use case>/.")
    print("    Metrics:  .venv/bin/dvc metrics show")
    print("    UI:       python3 dev.py ui   (then open http://127.0.0.1:3000 and look at the asset graph)")


def test(pytest_args: list[str]) -> None:
    setup()
    train()
    say("ruff (lint and format check)")
    run([str(bin_path(PROJECT_VENV, "ruff")), "check", "."])
    run([str(bin_path(PROJECT_VENV, "ruff")), "format", "--check", "."])
    say("pytest")
    run([str(bin_path(PROJECT_VENV, "python")), "-m", "pytest", *pytest_args])


def bench(bench_args: list[str]) -> None:
    setup()
    train()
    say("bench/run.py (the CLI against the plain-pandas script and the model floor, both use cases, interleaved)")
    run([str(bin_path(PROJECT_VENV, "python")), str(ROOT / "bench" / "run.py"), *bench_args])


def ui(extra: list[str]) -> None:
    setup()
    say(f"dg dev (instance: {project_env()['DAGSTER_HOME']})")
    os.execve(str(bin_path(PROJECT_VENV, "dg")), ["dg", "dev", "--host", "127.0.0.1", *extra], project_env())


def serve(extra: list[str]) -> None:
    """The webserver, the daemon and the report server as one service (scoring_assets/service.py)."""
    setup()
    env = project_env()
    python = str(bin_path(PROJECT_VENV, "python"))
    logs = Path(env["DAGSTER_HOME"]) / "service_logs"  # not logs/: Dagster empties that folder
    say(f"serving (instance: {env['DAGSTER_HOME']}; logs: {logs})")
    os.execve(python, [python, "-m", "scoring_assets.service", "--logs", str(logs), *extra], env)


# Every command, fed the arguments after its name; tests/test_docs.py holds the docs' commands to it.
COMMANDS = {
    "setup": lambda _arguments: setup(),
    "demo": lambda _arguments: demo(),
    "test": test,
    "ui": ui,
    "serve": serve,
    "bench": bench,
}


def main(argv: list[str]) -> None:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command not in COMMANDS:
        print(__doc__)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)
    COMMANDS[command](rest)


if __name__ == "__main__":
    os.chdir(ROOT)
    main(sys.argv[1:])
