"""What a scored file's manifest records about the code, the environment and the contract that produced it.

An auditor asking "what exactly decided these scores" needs more than the model: the code (its
git commit, and whether the checkout had uncommitted changes), the installed packages (their
names and versions, hashed so two runs can be compared at a glance, and listed in full in the
lake once per distinct environment) and the input contract (a hash of its declaration, so a
changed rule shows as a new contract version). Each is cheap: git is asked once per process with
a timeout, the packages are listed once per process, the contract is hashed from its declaration.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from functools import cache
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from scoring_assets.core.files import file_sha256, write_text_atomically
from scoring_assets.core.manifest_model import CodeCheckoutUsed, EnvironmentUsed, Provenance
from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.core.use_case import UseCase

GIT_TIMEOUT_SECONDS = 5
METADATA_SUFFIXES = (".dist-info", ".egg-info")  # where importlib.metadata finds installed distributions


def _git(*arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *arguments],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_SECONDS,
        check=True,
    ).stdout


@cache
def code_checkout() -> CodeCheckoutUsed | None:
    """The checkout the package runs from; None when it is not the top of a git checkout (an installed package).

    Asked once per process: the code a process runs is the code it imported when it started.
    """
    try:
        top = Path(_git("rev-parse", "--show-toplevel").strip()).resolve()
        if top != REPO_ROOT:
            return None  # the package sits inside someone else's repository: that commit says nothing about it
        commit = _git("rev-parse", "HEAD").strip()
        dirty = bool(_git("status", "--porcelain").strip())
    except (OSError, subprocess.SubprocessError):
        return None
    return CodeCheckoutUsed(git_commit=commit, dirty=dirty)


@cache
def installed_packages() -> tuple[str, ...]:
    """Every installed distribution as ``name==version``, names lower-cased, sorted: the environment's identity."""
    named = {f"{dist.metadata['Name'].lower()}=={dist.version}" for dist in distributions() if dist.metadata["Name"]}
    return tuple(sorted(named))


def packages_text(packages: tuple[str, ...]) -> str:
    """The packages list as written to the lake, one per line: what its sha256 is taken over."""
    return "".join(f"{line}\n" for line in packages)


def environment_sha256(packages: tuple[str, ...]) -> str:
    return hashlib.sha256(packages_text(packages).encode("utf-8")).hexdigest()


def record_environment(folder: Path) -> tuple[str, Path]:
    """(sha256, list file) of this process's packages; the list is written to ``folder/<sha256>.txt`` once.

    Reading every package's metadata costs ~0.06 s, a twentieth of a small file's run. The folder
    also remembers which list the installed packages' metadata folders (``name-version.dist-info``,
    one per installed version) gave: while those folders are the same, so is the list, and it is
    taken from the list file, its sha256 checked.
    """
    folder = Path(folder)
    remembered = folder / "by_metadata_folders" / f"{metadata_folders_sha256()}.txt"
    if remembered.exists():
        sha256 = remembered.read_text(encoding="utf-8").strip()
        listed = folder / f"{sha256}.txt"
        if listed.exists() and file_sha256(listed) == sha256:
            return sha256, listed
    packages = installed_packages()
    sha256 = environment_sha256(packages)
    listed = folder / f"{sha256}.txt"
    if not listed.exists() or file_sha256(listed) != sha256:
        write_text_atomically(listed, packages_text(packages))
    remembered.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(remembered, sha256)
    return sha256, listed


def metadata_folders_sha256() -> str:
    """sha256 of the package metadata folders on ``sys.path`` (each folder's name holds the version), in path order."""
    names = []
    for entry in sys.path:
        try:
            found = sorted(item.name for item in os.scandir(entry or ".") if item.name.endswith(METADATA_SUFFIXES))
        except OSError:  # not a folder (a zip file), or gone
            continue
        names.append(f"{os.path.abspath(entry or '.')}:{','.join(found)}")
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


def contract_declaration(use_case: UseCase) -> dict[str, Any]:
    """The contract as data: each column's type, nullability, uniqueness and checks, and the file-level checks.

    Checks are named with their parameters (allowed values, bounds), as pandera reports them; the
    cross-field rules name the columns they read. Descriptions are left out: rewording one is not
    a new contract.
    """
    schema = use_case.schema
    return {
        "columns": {
            name: {
                "dtype": str(column.dtype),
                "nullable": bool(column.nullable),
                "unique": bool(column.unique),
                "checks": [_check_declaration(check) for check in column.checks],
            }
            for name, column in schema.columns.items()
        },
        "checks": [_check_declaration(check) for check in schema.checks],
        "cross_field_rules": {rule: list(columns) for rule, columns in use_case.cross_field_rules.items()},
    }


def _check_declaration(check: Any) -> dict[str, Any]:
    return {"name": check.name, "statistics": check.statistics or {}}


def contract_version(use_case: UseCase) -> str:
    """sha256 of the contract's declaration as canonical JSON: the same contract gives the same hash in any process."""
    return declaration_sha256(contract_declaration(use_case))


def declaration_sha256(declaration: dict[str, Any]) -> str:
    """sha256 of ``declaration`` as JSON with sorted keys (values it cannot write as JSON are written as text)."""
    text = json.dumps(declaration, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scoring_provenance(use_case: UseCase, environments_folder: Path) -> Provenance:
    """The manifest's ``provenance`` for a file scored now as ``use_case``; the packages list kept in the folder."""
    sha256, listed = record_environment(environments_folder)
    return Provenance(
        code_checkout=code_checkout(),
        environment=EnvironmentUsed(sha256=sha256, packages_file=str(listed)),
        contract_version=contract_version(use_case),
    )
