"""``scoring-assets``: score a file from the command line by running the same Dagster job.

``score`` registers the file as a partition and executes the ``score_file`` job in process
against the instance in ``$DAGSTER_HOME`` (``.dagster_home/`` in the repository when unset),
so every scoring run is also a run in the UI (a model that fails its integrity check is
refused before anything is registered or run). ``rescore`` runs the ``rescore`` job for files
scored with an older model. There is no second scoring implementation here: this module only
prepares config, runs the jobs and explains the outcome.

Exit codes: 0 scored; 2 bad usage or input file not found; 3 batch refused by validation;
4 model missing or failed its integrity check; 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_MODEL = 4

INPUT_ERRORS = {"InputFileError", "PartitionKeyError"}
MODEL_ERRORS = {"ModelIntegrityError"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 with usage, as our contract says
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scoring-assets", description="Batch churn scoring with a DVC-tracked model, run by Dagster.")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's log and full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    score = commands.add_parser("score", help="validate and score one CSV file (runs the score_file job)")
    score.add_argument("input", type=Path, metavar="INPUT.csv")
    score.add_argument("--output", type=Path, metavar="OUT.csv", help="write the scored file here (manifest beside it)")
    score.add_argument(
        "--threshold", type=_fraction, metavar="T", help="decision threshold (default: the model card's)"
    )
    score.add_argument(
        "--max-reject-fraction", type=_fraction, default=0.05, metavar="F", help="refuse the batch above this (0.05)"
    )
    score.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    rescore = commands.add_parser(
        "rescore", help="re-score files already scored with an older model (runs the rescore job per file)"
    )
    rescore.add_argument("--all", action="store_true", help="re-score every scored file, not only stale ones")
    rescore.add_argument("--partition", action="append", metavar="KEY", help="only this partition (repeatable)")
    rescore.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    lineage = commands.add_parser("lineage", help="print where a scored file came from; non-zero if it was modified")
    lineage.add_argument("scored", type=Path, metavar="SCORED.csv")
    lineage.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "score":
            return score(args)
        if args.command == "rescore":
            return rescore(args)
        return show_lineage(args)
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as error:  # one line per problem unless --verbose
        if args.verbose:
            raise
        _problem(f"{type(error).__name__}: {error}")
        return EXIT_ERROR


def _problem(message: str) -> None:
    print(f"scoring-assets: {message}", file=sys.stderr)


def ensure_dagster_home() -> Path:
    """``$DAGSTER_HOME``, defaulting to the repository's ``.dagster_home`` (created if needed).

    The project's own home always gets the project's ``dagster.yaml`` (SQLite storage, a run
    queue, no telemetry); a home of your own gets it only when it has none.
    """
    from scoring_assets.paths import REPO_ROOT

    project_home = REPO_ROOT / ".dagster_home"
    home = Path(os.environ.get("DAGSTER_HOME") or project_home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    if home == project_home.resolve() or not (home / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def prepared_model(verbose: bool):
    """Common start of the scoring commands: quiet warnings, the Dagster home, the verified model.

    Returns the ``ModelArtifact``, or None after printing why the model cannot be used.
    """
    if not verbose:
        warnings.filterwarnings("ignore")
    ensure_dagster_home()
    from scoring_assets.model_store import ModelIntegrityError, verify_artifact

    try:
        return verify_artifact()
    except ModelIntegrityError as error:
        _problem(f"model: {error}")
        return None


@dataclass
class ScoreOutcome:
    exit_code: int
    lines: list[str]
    problems: list[str]


def score(args: argparse.Namespace) -> int:
    source: Path = args.input
    if not source.is_file():
        _problem(f"{source}: input file not found")
        return EXIT_USAGE
    # Before registering anything: a file is not taken in for a model that cannot run.
    if prepared_model(args.verbose) is None:
        return EXIT_MODEL

    from dagster import DagsterInstance

    from scoring_assets.manifest import archive_superseded
    from scoring_assets.model_store import ModelIntegrityError
    from scoring_assets.resources import ScoringFolders
    from scoring_assets.runs import execute_score_run, register_file

    instance = DagsterInstance.get()
    registration = register_file(instance, ScoringFolders(), source)
    if args.output is not None:
        archived = archive_superseded(args.output.expanduser().resolve(), registration.partition_key)
        if archived is not None:
            print(f"earlier results at {args.output} (from another input) moved to {archived}")
    try:
        result = execute_score_run(instance, registration.partition_key, job_run_config(args, verbose=args.verbose))
    except ModelIntegrityError as error:
        _problem(f"model: {error}")
        return EXIT_MODEL
    outcome = explain(result, registration)
    for line in outcome.lines:
        print(line)
    for problem in outcome.problems:
        _problem(problem)
    return outcome.exit_code


def job_run_config(args: argparse.Namespace, verbose: bool) -> dict:
    from scoring_assets.manifest import reject_report_path_for

    validation = {"max_reject_fraction": args.max_reject_fraction}
    scoring: dict = {}
    if args.threshold is not None:
        scoring["threshold"] = args.threshold
    if args.output is not None:
        output = args.output.expanduser().resolve()
        scoring["output_path"] = str(output)
        validation["reject_report_path"] = str(reject_report_path_for(output))
    return {"ops": {"validated_batch": {"config": validation}, "scores": {"config": scoring}}, **logger_config(verbose)}


def logger_config(verbose: bool) -> dict:
    """Dagster's console log only with --verbose: otherwise the CLI prints one line per outcome."""
    return {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def explain(result, registration) -> ScoreOutcome:
    """Turn a finished run into what the user sees: output lines, problems and an exit code."""
    from scoring_assets.manifest import manifest_path_for
    from scoring_assets.resources import ScoringFolders

    folders = ScoringFolders()
    key = registration.partition_key
    run_line = f"run: {result.run_id} (partition {key}; see it in the UI with `python3 dev.py ui`)"
    if result.success:
        validated = folders.read_stage_summary("validated_batch", key)
        scored = folders.read_stage_summary("scores", key)
        model, threshold = scored["model"]["version"], scored["threshold"]
        lines = [
            f"scored: {scored['output_path']} ({scored['rows']} rows, model {model}, threshold {threshold:.4f})",
            f"manifest: {manifest_path_for(Path(scored['output_path']))}",
        ]
        if validated["rows_rejected"]:
            lines.append(f"rejected: {validated['rows_rejected']} rows, see {validated['reject_report']}")
        return ScoreOutcome(EXIT_OK, [*lines, run_line], [])

    problems: list[str] = []
    exit_code = EXIT_ERROR
    for evaluation in failed_check_evaluations(result):
        if evaluation.check_name == "reject_fraction_within_limit":
            exit_code = EXIT_REFUSED
            meta = {k: v.value for k, v in evaluation.metadata.items()}
            report = folders.read_stage_summary("validated_batch", key)["reject_report"]
            problems.append(
                f"{registration.source_path}: batch refused: {meta['rows_rejected']} of {meta['rows_in']} rows "
                "rejected "
                f"({meta['reject_fraction']:.1%} > {meta['max_reject_fraction']:.1%}); reject report: {report}"
            )
        else:
            meta = ", ".join(f"{k}={v.value}" for k, v in evaluation.metadata.items())
            problems.append(f"check {evaluation.asset_key.to_user_string()}/{evaluation.check_name} failed ({meta})")
    for step, error in step_failures(result):
        if error.cls_name == "DagsterAssetCheckFailedError" and problems:
            continue  # the failed checks are already explained above
        if error.cls_name in INPUT_ERRORS:
            exit_code = EXIT_REFUSED
        elif error.cls_name in MODEL_ERRORS:
            exit_code = EXIT_MODEL
        problems.append(f"{step}: {error_text(error)}")
    if not problems:
        problems.append(f"run {result.run_id} failed; rerun with --verbose for Dagster's log")
    return ScoreOutcome(exit_code, [run_line], problems)


def error_text(error) -> str:
    """The first line of an error's message, without Python's ``module.ClassName:`` prefix."""
    first_line = error.message.strip().splitlines()[0] if error.message else error.cls_name
    return re.sub(r"^[\w.]+(Error|Exception|Failure): ", "", first_line)


def failed_check_evaluations(result) -> list:
    from dagster import DagsterEventType

    evaluations = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed:
                evaluations.append(evaluation)
    return evaluations


def step_failures(result) -> list:
    """(step, error) for each failed step, unwrapping Dagster's user-code error wrapper."""
    failures = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
                error = error.cause
            failures.append((event.step_key, error))
    return failures


def rescore(args: argparse.Namespace) -> int:
    """Re-score partitions whose scores came from another model than the one in dvc.lock."""
    model = prepared_model(args.verbose)
    if model is None:
        return EXIT_MODEL

    from dagster import DagsterInstance

    from scoring_assets.jobs import RESCORE_JOB
    from scoring_assets.partitions import input_files_partitions
    from scoring_assets.runs import execute_score_run, scored_with_model

    instance = DagsterInstance.get()
    known = instance.get_dynamic_partitions(input_files_partitions.name)
    unknown = sorted(set(args.partition or []) - set(known))
    if unknown:
        _problem(f"no such partition(s): {', '.join(unknown)}")
        return EXIT_USAGE
    chosen = [key for key in known if not args.partition or key in args.partition]
    used = {key: scored_with_model(instance, key) for key in chosen}
    targets = [key for key in chosen if used[key] is not None and (args.all or used[key] != model.md5)]
    if not targets:
        print(
            f"nothing to re-score: {sum(v is not None for v in used.values())} scored file(s), all by {model.version}"
        )
        return EXIT_OK
    config = logger_config(args.verbose)
    failed = 0
    for key in targets:
        result = execute_score_run(instance, key, config, job_name=RESCORE_JOB)
        if result.success:
            print(f"re-scored {key} with {model.version} (run {result.run_id})")
        else:
            failed += 1
            problems = [f"{step}: {error_text(error)}" for step, error in step_failures(result)]
            _problem(f"re-scoring {key} failed (run {result.run_id}): {'; '.join(problems) or 'see the UI'}")
    print(f"{len(targets) - failed} of {len(targets)} file(s) re-scored with {model.version}")
    return EXIT_OK if not failed else EXIT_ERROR


def show_lineage(args: argparse.Namespace) -> int:
    from scoring_assets.manifest import LineageError, lineage

    try:
        summary = lineage(args.scored)
    except LineageError as error:
        _problem(str(error))
        return EXIT_USAGE
    print(json.dumps(summary, indent=2, sort_keys=True))
    if not summary["matches_manifest"]:
        _problem(
            f"{args.scored}: sha256 {summary['scored_sha256']} does not match its manifest "
            f"({summary['recorded_sha256']}): the scored file was modified after it was written"
        )
        return EXIT_ERROR
    return EXIT_OK
