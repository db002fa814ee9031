"""``scoring-assets new-use-case``: draft a use case from a labelled sample, ready to train and score.

From one labelled extract it drafts the package (``contract.py`` with value sets and bounds read
off the sample and comments saying what to review, ``features.py``, the ``USE_CASE``
declaration), appends its ``params.yaml`` section and its ``dvc.yaml`` train and evaluate stages
(training on that extract; no generator), and reports every assumption it made. It never
overwrites: an existing package folder, params section or stage is a ``ScaffoldRefused`` naming
each, before anything is written. A package kept outside the repository (``package_dir``) gets
no DVC stages: those train packages under ``scoring_assets/use_cases/`` only.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from scoring_assets.core.use_case import NAME_PATTERN
from scoring_assets.scaffold.inference import SampleError, draft_sample, read_sample
from scoring_assets.scaffold.package_files import render_package, write_package
from scoring_assets.scaffold.project_files import add_params_section, add_stages, existing_entries


class ScaffoldRefused(ValueError):
    """Nothing was written: the name, the sample or what already exists says no."""


@dataclass(frozen=True)
class ScaffoldRequest:
    """What to draft: the use case's name, the labelled sample, its label and id, and where to write."""

    name: str
    sample: Path
    label: str
    positive: str
    id_column: str | None = None
    project: Path = Path(".")  # the DVC project: params.yaml and dvc.yaml at its top
    package_dir: Path | None = None  # a folder outside the repository for the package (no DVC stages then)

    @property
    def package(self) -> Path:
        parent = self.package_dir if self.package_dir is not None else self.project / "scoring_assets" / "use_cases"
        return Path(parent) / self.name


@dataclass
class ScaffoldResult:
    """What was written and what was assumed, one line each."""

    written: list[Path] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)


def extract_setting(sample: Path, project: Path) -> str:
    """The sample as params.yaml names it: relative to the project when inside it, else absolute."""
    resolved = sample.resolve()
    return (
        resolved.relative_to(project.resolve()).as_posix()
        if resolved.is_relative_to(project.resolve())
        else str(resolved)
    )


def refusals(request: ScaffoldRequest) -> list[str]:
    """Every reason not to write anything: a bad name, no sample, or what would be overwritten."""
    found = []
    if not re.match(NAME_PATTERN, request.name):
        found.append(f"use case name {request.name!r} must match {NAME_PATTERN}")
    if not request.sample.is_file():
        found.append(f"sample {request.sample} is not a file")
    if request.package.exists():
        found.append(f"{request.package} already exists")
    return found + existing_entries(request.project, request.name)


def scaffold_use_case(request: ScaffoldRequest) -> ScaffoldResult:
    """Draft the use case of ``request``; ``ScaffoldRefused`` (nothing written) when it cannot or would overwrite."""
    problems = refusals(request)
    if problems:
        raise ScaffoldRefused("; ".join(problems))
    try:
        draft = draft_sample(request.sample, request.label, request.positive, request.id_column)
    except SampleError as error:
        raise ScaffoldRefused(str(error)) from None
    extract = extract_setting(request.sample, request.project)
    rows = len(read_sample(request.sample)[0])
    files = render_package(request.name, draft, extract, rows)
    result = ScaffoldResult(assumptions=draft.assumptions)
    result.written += write_package(request.package, files)
    if request.package_dir is None:
        try:
            stages_file = add_stages(request.project, request.name)
        except Exception:
            shutil.rmtree(request.package)  # the package just written, so a second try starts clean
            raise
        result.stages = [f"{request.name}_train", f"{request.name}_evaluate"]
        result.written.append(stages_file)
    result.written.append(add_params_section(request.project, request.name, extract))
    return result
