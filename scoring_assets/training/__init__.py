"""Model training as DVC stages, per use case: generate -> train -> evaluate.

Each stage is a module run as ``python -m <module> <use case>`` (the generator is the use case's
own ``generate`` module); this package holds only what all of them share: their configuration
(``params.yaml``, the one home of training settings, one section per use case and stage) and
where a use case's training outputs live. A DVC project keeps its ``params.yaml`` at its top: the
DVC stages here read this repository's; a challenger reads the one of the DVC project that holds
its use case's model (a use case's own ``ModelSource.root``, or the model store's) when that
project has one, else this repository's. Outputs are written all-or-nothing with
``scoring_assets.core.files``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from scoring_assets.core.paths import PARAMS_FILE, REPO_ROOT
from scoring_assets.core.paths import held_out_path as held_out_path  # the promotion gate reads it too
from scoring_assets.core.use_case import UseCase


def params_project(root: Path | None = None) -> Path:
    """The DVC project whose ``params.yaml`` holds the settings: ``root`` if it keeps one at its top, else this repo."""
    return Path(root) if root is not None and (Path(root) / PARAMS_FILE).is_file() else REPO_ROOT


def load_params(use_case_name: str, stage: str, root: Path | None = None) -> dict[str, Any]:
    """One stage's settings for one use case: section ``<use case>.<stage>`` of ``params_project(root)``'s file."""
    params_path = params_project(root) / PARAMS_FILE
    params = yaml.safe_load(params_path.read_text(encoding="utf-8")) or {}
    section = params.get(use_case_name)
    if not isinstance(section, dict) or stage not in section:
        raise KeyError(f"{params_path} has no '{use_case_name}.{stage}' section")
    return section[stage]


def repo_path(configured: str | Path, root: Path | None = None) -> Path:
    """A path from ``params.yaml``: relative ones are from the top of its DVC project, where DVC runs the stages."""
    path = Path(configured).expanduser()
    return path if path.is_absolute() else params_project(root) / path


def generator_command(
    use_case_name: str,
    description: str,
    rows_are: str,
    label_column: str,
    write_extract: Callable[..., Path],
    argv: list[str] | None = None,
) -> None:
    """The command line of a use case's generator (its DVC ``<use case>_generate`` stage), the same for every one.

    Defaults come from ``params.yaml`` ``<use case>.generate`` (rows, seed, output); ``write_extract``
    is the generator's ``write_extract(path, rows, seed, labelled=...)``.
    """
    defaults = load_params(use_case_name, "generate")
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--rows", type=int, default=defaults["rows"], help=f"number of {rows_are} (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=defaults["seed"], help="random seed (default: %(default)s)")
    parser.add_argument(
        "--output", type=Path, default=repo_path(defaults["output"]), help="CSV to write (default: %(default)s)"
    )
    parser.add_argument(
        "--unlabelled", action="store_true", help=f"leave out the {label_column} column, like a scoring batch"
    )
    args = parser.parse_args(argv)
    path = write_extract(args.output, args.rows, args.seed, labelled=not args.unlabelled)
    print(f"wrote {args.rows:,} {'unlabelled' if args.unlabelled else 'labelled'} rows (seed {args.seed}) to {path}")


def trained_use_case(name: str) -> UseCase:
    """The use case ``name`` declared in ``scoring_assets/use_cases/<name>/``, importing no other use case.

    A DVC stage depends on exactly the source files it imports, so a stage of one use case must
    not import the others (as the registry, ``scoring_assets.use_cases.all_use_cases``, does):
    editing one use case would otherwise retrain them all.
    """
    try:
        module = importlib.import_module(f"scoring_assets.use_cases.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"scoring_assets.use_cases.{name}":
            raise
        raise SystemExit(f"no use case package scoring_assets/use_cases/{name}/ to train") from None
    declared = getattr(module, "USE_CASE", None)
    if not isinstance(declared, UseCase) or declared.name != name:
        raise SystemExit(f"scoring_assets/use_cases/{name}/ must expose USE_CASE, a UseCase named {name!r}")
    if declared.label is None:
        raise SystemExit(f"use case {name} declares no label: there is nothing to train a model on")
    return declared


def metrics_path(use_case: UseCase) -> Path:
    """The test-split metrics ``evaluate`` writes, where the use case declares them."""
    if use_case.model.metrics_path is None:
        raise SystemExit(f"use case {use_case.name} declares no model.metrics_path for evaluate to write")
    return repo_path(use_case.model.metrics_path)


def plots_dir(use_case: UseCase) -> Path:
    """The charts ``evaluate`` draws, beside the metrics they illustrate."""
    return metrics_path(use_case).parent / "plots"
