"""``scoring-assets``: score a file from the command line by running the same Dagster job.

``score`` picks the file's use case (``--use-case``, else the one whose contract its header
satisfies), registers the file as a partition of it and executes its score_file job in process
against the instance in ``$DAGSTER_HOME`` (``.dagster_home/`` in the repository when unset),
so every scoring run is also a run in the UI (a model that fails its integrity check is
refused before anything is registered or run). ``rescore`` runs each use case's rescore_batch
job (many files a run) for files scored with an older model; ``outcomes`` registers what really happened to scored rows
(the use case's register_outcomes job) and prints realized against expected performance per
scored file; ``use-cases`` lists what can be scored. There is no second
scoring implementation here: this module only prepares config, runs the jobs and explains the
outcome.

``outcomes`` registers what really happened to scored rows (``core.outcomes``). ``promote``,
``rollback``, ``discard`` and ``models`` switch and show a use case's served model in the model
store's DVC project (``core.model_lifecycle``; the UI's promote and rollback jobs run the same
functions). ``train`` trains a challenger on production rows, the generated extract or a labelled
file and runs the promotion gate on it (``training.challenger``, as the train_challenger job does);
it exits 0 whatever the gate says (2: no such training set, or no labelled production rows yet).
``retire`` takes a file that was a mistake out of its use case: its outputs archived, why recorded,
its partition deleted (``builders.retirement.retire_file``, which the UI's retire_file job runs too).
``evidence`` writes a scored file's evidence bundle into a new folder (``core.evidence``; the UI's
evidence job runs the same): exit 1, nothing written, when an item is no longer what was recorded.
``prune`` removes files scored more than ``--older-than`` days ago from Dagster (partitions, runs and
events; ``builders.retention.prune_files``, which the prune job runs too): their scored files and lake
records stay, so ``lineage`` and duplicate detection still know them.
``serve-reports`` serves the reports read-only over HTTP (``report_server``) until Ctrl-C or
SIGTERM, then exits 0. ``new-use-case`` drafts a use case from a labelled sample (``scaffold``): its
package, params.yaml section and DVC stages; it exits 2, writing nothing, when any of them exists.

Exit codes: 0 scored (or done, outcomes registered); 2 bad usage, input file not found, no single
use case for the file, an --output that could overwrite the input, outcomes for a use case without
ids, no challenger, an unknown model or partition, a blank --reason, negative --older-than days, a
use case draft refused, an evidence --out that exists; 3 batch (or outcomes file) refused; 4 model
missing or failed its integrity check; 5 promotion refused by the gate; 1 anything else (an evidence
item modified too).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_MODEL = 4
EXIT_GATE = 5
VERBOSE_HELP = "show Dagster's log and full tracebacks"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 with usage, as our contract says
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _days(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} days: give 0 or more")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 or more")
    return value


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """--verbose after a command too, listed in its --help (SUPPRESS: it does not reset the top-level one)."""
    parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scoring-assets", description="Batch scoring with DVC-tracked models, run by Dagster.")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    score = commands.add_parser("score", help="validate and score one CSV file (runs its use case's score_file job)")
    score.add_argument("input", type=Path, metavar="INPUT.csv")
    score.add_argument(
        "--use-case",
        metavar="NAME",
        help="score as this use case (default: the one whose contract the header satisfies)",
    )
    score.add_argument(
        "--carry",
        action="append",
        metavar="COLUMN",
        help="carry this input column into the scored file after its fixed columns (repeatable; default: the "
        "use case's own list)",
    )
    score.add_argument("--output", type=Path, metavar="OUT.csv", help="write the scored file here (manifest beside it)")
    score.add_argument(
        "--threshold", type=_fraction, metavar="T", help="decision threshold (default: the model card's)"
    )
    score.add_argument(
        "--max-reject-fraction", type=_fraction, default=0.05, metavar="F", help="refuse the batch above this (0.05)"
    )
    score.add_argument(
        "--reason-inputs",
        action="store_true",
        default=None,
        help="add reason_N_input columns naming the contract columns behind each reason (use cases with reasons)",
    )
    add_verbose(score)

    add_rescore_parser(commands)

    add_outcomes_parser(commands)

    lineage = commands.add_parser("lineage", help="print where a scored file came from; non-zero if it was modified")
    lineage.add_argument("scored", type=Path, metavar="SCORED.csv")
    add_verbose(lineage)

    listing = commands.add_parser("use-cases", help="list the use cases: model version, contract columns, folders")
    add_verbose(listing)
    add_lifecycle_parsers(commands)
    add_train_parser(commands)
    add_status_parser(commands)
    add_retire_parser(commands)
    add_evidence_parser(commands)
    add_prune_parser(commands)
    add_serve_reports_parser(commands)
    add_new_use_case_parser(commands)
    return parser


def add_rescore_parser(commands) -> None:
    """``rescore [--use-case NAME] [--all] [--partition KEY ...] [--max-partitions-per-run N]``."""
    rescore = commands.add_parser(
        "rescore", help="re-score files already scored with an older model (many files per run, each its own partition)"
    )
    rescore.add_argument("--use-case", metavar="NAME", help="only this use case (default: every use case)")
    rescore.add_argument("--all", action="store_true", help="re-score every scored file, not only stale ones")
    rescore.add_argument("--partition", action="append", metavar="KEY", help="only this partition (repeatable)")
    rescore.add_argument(
        "--max-partitions-per-run",
        type=positive_int,
        metavar="N",
        help="files per run (default: SCORING_MAX_PARTITIONS_PER_RUN, else 100); 1: the rescore job once per file",
    )
    add_verbose(rescore)


def add_new_use_case_parser(commands) -> None:
    """``new-use-case NAME --from SAMPLE.csv --label COLUMN --positive VALUE [--id COLUMN] [--package-dir DIR]``."""
    new = commands.add_parser(
        "new-use-case",
        help="draft a use case from a labelled sample: its package, params.yaml section and DVC stages (never "
        "overwrites)",
    )
    new.add_argument("name", metavar="NAME", help="the use case's name (^[a-z][a-z0-9_]{0,39}$)")
    new.add_argument("--from", dest="sample", type=Path, metavar="SAMPLE.csv", required=True, help="a labelled extract")
    new.add_argument("--label", metavar="COLUMN", required=True, help="the label column (exactly two values)")
    new.add_argument("--positive", metavar="VALUE", required=True, help="the label value the score is about")
    new.add_argument("--id", dest="id_column", metavar="COLUMN", help="the id column (default: rows by row number)")
    new.add_argument(
        "--package-dir",
        type=Path,
        metavar="DIR",
        help="write the package into DIR/NAME, outside the repository (name it in SCORING_USE_CASE_MODULES); no "
        "DVC stages then",
    )
    add_verbose(new)


def add_retire_parser(commands) -> None:
    """``retire --use-case NAME --partition KEY --reason TEXT [--json]``."""
    retire = commands.add_parser(
        "retire",
        help="take a file scored by mistake out of its use case: outputs archived, partition removed, why recorded",
    )
    retire.add_argument("--use-case", metavar="NAME", required=True)
    retire.add_argument("--partition", metavar="KEY", required=True, help="the file's partition (<name>-<8 hex>)")
    retire.add_argument("--reason", metavar="TEXT", required=True, help="why it is retired (recorded)")
    retire.add_argument("--json", action="store_true", help="print one JSON object")
    add_verbose(retire)


def add_evidence_parser(commands) -> None:
    """``evidence SCORED_FILE|PARTITION [--use-case NAME] --out DIR [--json]``."""
    evidence = commands.add_parser(
        "evidence",
        help="write a scored file's evidence bundle (evidence.json, index.html, the files behind it) into a new "
        "folder; non-zero if an item was modified",
    )
    evidence.add_argument("target", metavar="SCORED_FILE|PARTITION", help="a scored file, or its partition key")
    evidence.add_argument("--use-case", metavar="NAME", help="the partition's use case (default: whichever has it)")
    evidence.add_argument("--out", type=Path, metavar="DIR", required=True, help="the bundle's folder (must not exist)")
    evidence.add_argument("--json", action="store_true", help="print evidence.json's record")
    add_verbose(evidence)


def add_prune_parser(commands) -> None:
    """``prune --use-case NAME --older-than DAYS [--dry-run] [--json]``."""
    prune = commands.add_parser(
        "prune",
        help="remove files scored more than DAYS ago from Dagster (partitions, runs); scored files and lake stay",
    )
    prune.add_argument("--use-case", metavar="NAME", required=True)
    prune.add_argument("--older-than", type=_days, metavar="DAYS", required=True, help="days since last scored")
    prune.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    prune.add_argument("--json", action="store_true", help="print one JSON object: removed, kept, bytes_freed")
    add_verbose(prune)


def add_outcomes_parser(commands) -> None:
    """``outcomes FILE [--use-case NAME] [--json]``."""
    outcomes = commands.add_parser(
        "outcomes",
        help="register what really happened to scored rows (id and label columns); prints realized vs expected "
        "performance per scored file (runs its use case's register_outcomes job)",
    )
    outcomes.add_argument("input", type=Path, metavar="FILE.csv")
    outcomes.add_argument(
        "--use-case",
        metavar="NAME",
        help="outcomes of this use case (default: the one whose id and label the header has)",
    )
    outcomes.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_verbose(outcomes)


def add_status_parser(commands) -> None:
    """status: the daemon's heartbeats and the sensors' last ticks; exit 1 when any is stale (for monitoring)."""
    from scoring_assets.service_status import DEFAULT_MAX_AGE_SECONDS

    status = commands.add_parser(
        "status", help="is the service alive: daemon heartbeats and sensor ticks (exit 1: stale)"
    )
    status.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_MAX_AGE_SECONDS,
        metavar="SECONDS",
        help="a heartbeat or tick older than this is stale (%(default)s)",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    add_verbose(status)


def add_serve_reports_parser(commands) -> None:
    """serve-reports: the read-only report server, in the foreground until Ctrl-C or SIGTERM."""
    serve = commands.add_parser(
        "serve-reports", help="serve the drift, trend, impact and reject reports read-only over HTTP (foreground)"
    )
    serve.add_argument(
        "--reports-address",
        metavar="HOST:PORT",
        help="where to listen (default: SCORING_REPORTS_ADDRESS, else 127.0.0.1:3001)",
    )
    add_verbose(serve)


def add_train_parser(commands) -> None:
    """train: a challenger on production rows, the generated extract or a labelled file, then the gate."""
    train = commands.add_parser("train", help="train a challenger model and run the promotion gate on it")
    train.add_argument("--use-case", metavar="NAME", required=True)
    train.add_argument(
        "--training-set",
        metavar="production|generated|FILE",
        default="generated",
        help="labelled production rows, the generated extract (as dvc repro) or a labelled extract (%(default)s)",
    )
    train.add_argument("--json", action="store_true", help="print one JSON object")
    add_verbose(train)


def add_lifecycle_parsers(commands) -> None:
    """promote, rollback, discard, models: each takes --use-case and prints one JSON object with --json."""
    helps = {
        "promote": "serve the challenger (only if the gate passed it, unless --force --reason)",
        "rollback": "serve again the champion served before the current one (or --to MD5)",
        "discard": "drop the challenger",
        "models": "show the champion, the challenger and the model history",
    }
    for name, text in helps.items():
        command = commands.add_parser(name, help=text)
        command.add_argument("--use-case", metavar="NAME", required=True)
        command.add_argument("--json", action="store_true", help="print one JSON object")
        add_verbose(command)
    commands.choices["promote"].add_argument("--force", action="store_true", help="override the gate (needs --reason)")
    commands.choices["promote"].add_argument("--reason", metavar="TEXT", default="", help="why (recorded)")
    commands.choices["rollback"].add_argument(
        "--to", metavar="MD5", help="the earlier champion to serve: its model md5, a prefix or its model version"
    )


def console_main() -> int:
    """The ``scoring-assets`` command: ``main`` in a process set up to score (``process_memory``).

    The cyclic garbage collector is off from the start until the definitions are loaded
    (``definitions_loaded``), and everything is frozen when it returns; allocators return freed memory.
    """
    gc.disable()
    from scoring_assets.process_memory import return_freed_memory

    return_freed_memory()
    try:
        return main()
    finally:
        gc.freeze()  # before any exit handler runs (see process_memory.freeze_at_exit)


def definitions_loaded() -> None:
    """Load the Dagster definitions; in the command's own process, freeze what loading made and resume collection."""
    from scoring_assets.defs.use_cases import scoring_definitions
    from scoring_assets.process_memory import resume_collection

    scoring_definitions()
    if not gc.isenabled():
        resume_collection()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from scoring_assets.use_cases import report_broken_use_cases

    report_broken_use_cases()  # a broken package is named once; the command goes on with the other use cases
    try:
        with _terminate_like_interrupt():
            if args.command == "score":
                return score(args)
            if args.command == "rescore":
                return rescore(args)
            if args.command == "outcomes":
                return register_outcomes(args)
            if args.command == "use-cases":
                return list_use_cases(args)
            if args.command in ("promote", "rollback", "discard", "models"):
                return model_lifecycle(args)
            if args.command == "train":
                return train_challenger(args)
            if args.command == "status":
                return service_status(args)
            if args.command == "retire":
                return retire(args)
            if args.command == "evidence":
                return write_evidence(args)
            if args.command == "prune":
                return prune(args)
            if args.command == "serve-reports":
                return serve_reports(args)
            if args.command == "new-use-case":
                return new_use_case(args)
            return show_lineage(args)
    except KeyboardInterrupt:
        _problem("stopped before the end; nothing half-written was published")
        return EXIT_ERROR
    except Exception as error:  # one line per problem unless --verbose
        if args.verbose:
            raise
        _problem(f"{type(error).__name__}: {error}")
        return EXIT_ERROR


@contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """Treat SIGTERM (``kill``, a scheduler stopping the job) as Ctrl-C while the command runs.

    Python's default for SIGTERM ends the process on the spot, leaving temporaries behind;
    raising KeyboardInterrupt instead unwinds every ``finally`` (temporaries removed) and lets
    Dagster record the run as interrupted.
    """

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (e.g. main() called by a test)
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _problem(message: str) -> None:
    print(f"scoring-assets: {message}", file=sys.stderr)


def ensure_dagster_home() -> Path:
    """``$DAGSTER_HOME``, defaulting to the repository's ``.dagster_home``, ready for any number of runs.

    ``$SCORING_DATA_DIR`` defaults to the repository's ``data/`` here too.

    The project's own home always gets the project's ``dagster.yaml`` (SQLite storage, a run
    queue, no telemetry); a home of your own gets it only when it has none. Dagster creates
    an instance's storage on first open without any lock: processes started at once on a new
    home race on the SQLite schema (``table runs already exists``), and a loser can leave two
    alembic heads that break the instance for good. So the config is written and the storage
    created (opening the instance creates run, event-log and schedule storage) by one
    process at a time, under an exclusive lock on a file in the home.
    """
    from dagster import DagsterInstance

    from scoring_assets.core.files import exclusive_lock, write_text_atomically
    from scoring_assets.core.paths import INSTANCE_CONFIG_PATH, REPO_ROOT, default_data_dir
    from scoring_assets.settings import DATA_DIR_VARIABLE

    os.environ.setdefault(DATA_DIR_VARIABLE, str(default_data_dir()))  # the folders resource's setting (settings.py)
    project_home = REPO_ROOT / ".dagster_home"
    home = Path(os.environ.get("DAGSTER_HOME") or project_home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config, project_config = home / "dagster.yaml", INSTANCE_CONFIG_PATH.read_text(encoding="utf-8")
    with exclusive_lock(home / ".instance_setup.lock"):
        own_config = home != project_home.resolve() and config.exists()
        if not own_config and (not config.exists() or config.read_text(encoding="utf-8") != project_config):
            write_text_atomically(config, project_config)
        with DagsterInstance.from_config(str(home)):
            pass
    return home


def prepared_model(verbose: bool, use_case):
    """Common start of the scoring commands: quiet warnings, the Dagster home, the verified model.

    Returns the ``LoadedModel`` ready to score (its serving form, else its unpickled Pipeline: a
    card that does not fit the model is caught either way), or None after printing why the model
    cannot be used.
    """
    if not verbose:
        warnings.filterwarnings("ignore")
    ensure_dagster_home()
    from scoring_assets.core.model_store import ModelIntegrityError
    from scoring_assets.runs import model_store

    try:
        return model_store().load(use_case)
    except ModelIntegrityError as error:
        _problem(f"{use_case.name} model: {error}")
        return None


def chosen_use_case(source: Path, name: str | None, route=None):
    """The use case to score ``source`` as, or (exit code, problem) when there is not exactly one.

    Without a name, the use case ``route`` picks by the file's header (default ``core.routing.route_by_header``: the
    one whose contract columns the header has, as the inbox router decides).
    """
    from scoring_assets.core.routing import route_by_header
    from scoring_assets.core.use_case import UseCase
    from scoring_assets.use_cases import UseCaseError, all_use_cases, use_case

    if name is not None:
        try:
            return use_case(name)
        except UseCaseError as error:
            return EXIT_USAGE, str(error)
    routed = (route or route_by_header)(source, list(all_use_cases().values()))
    if isinstance(routed, UseCase):
        return routed
    if routed.file_unusable:
        return EXIT_REFUSED, f"{source}: {routed.reason}"
    return EXIT_USAGE, f"{source}: {routed.reason}; choose one with --use-case to see every problem"


@dataclass
class ScoreOutcome:
    exit_code: int
    lines: list[str]
    problems: list[str]


def score(args: argparse.Namespace) -> int:
    # Absolute (so every message names the full path) but not resolved: a symlink stays one, so the
    # output-path check can say the output reaches the input through it.
    source = Path(os.path.abspath(args.input.expanduser()))
    if not source.is_file():  # a FIFO or device is never opened: reading one could wait forever
        _problem(f"{source}: {'not a regular file' if source.exists() else 'input file not found'}")
        return EXIT_USAGE
    use_case = chosen_use_case(source, args.use_case)
    if isinstance(use_case, tuple):
        _problem(use_case[1])
        return use_case[0]
    if args.use_case is not None:  # named by hand: is it that use case's file at all? (not registered if not)
        from scoring_assets.core.routing import header_mismatch
        from scoring_assets.use_cases import all_use_cases

        mismatch = header_mismatch(source, use_case, list(all_use_cases().values()))
        if mismatch:
            _problem(f"{source}: {mismatch}")
            return EXIT_REFUSED
    hashing = sha256_in_background(source)
    from scoring_assets.core.files import remove_dead_writers_temporaries
    from scoring_assets.runs import folders as scoring_folders

    definitions_loaded()
    folders = scoring_folders()
    own = folders.of(use_case.name)
    # Hashed once, here: the partition key names the default outputs, all checked before anything moves.
    planned = own.registration_for(source, hashing.result())
    unsafe = unsafe_output_problem(source, args.output, folders, planned.partition_key, use_case.name)
    if unsafe:
        _problem(unsafe)
        return EXIT_USAGE
    # Before registering anything: a file is not taken in for a model that cannot run.
    if prepared_model(args.verbose, use_case) is None:
        return EXIT_MODEL

    from dagster import DagsterInstance

    from scoring_assets.core.manifest import archive_previous, reject_report_path_for
    from scoring_assets.runs import register_file

    # What runs killed outright (kill -9) left half-written goes before this run writes.
    remove_dead_writers_temporaries(folders.root, recursive=True)
    if args.output is not None:
        remove_dead_writers_temporaries(args.output.expanduser().resolve().parent)
    instance = DagsterInstance.get()
    registration = register_file(instance, use_case, own, source, planned.sha256)
    if args.output is not None:  # the earlier scored file, what was published with it and its rejects move aside
        output = args.output.expanduser().resolve()
        archived = archive_previous(output, reject_report_path_for(output))
        if archived is not None:
            print(f"earlier results at {args.output} moved to {archived}")
    return run_and_explain(instance, use_case, own, registration, args)


def sha256_in_background(source: Path) -> Future:
    """The file's sha256, computed on a thread of its own while the command loads Dagster and the definitions.

    Hashing releases the GIL, so the two overlap on two cores: ~0.17 s of wall time per million rows
    (what the partition key waits for). The raw stage still hashes what it parses and compares.
    """
    from scoring_assets.core.files import file_sha256

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="input-sha256")
    try:
        return executor.submit(file_sha256, source)
    finally:
        executor.shutdown(wait=False)


def unsafe_output_problem(source: Path, output: Path | None, folders, partition_key: str, use_case: str) -> str | None:
    """Why a path the run would write (by default or under ``--output``) could reach the input, if it could."""
    from scoring_assets.core.output_paths import UnsafeOutputPathError, check_scored_output_path

    own = folders.of(use_case)
    try:
        check_scored_output_path(
            source,
            own.scored_file(partition_key) if output is None else output,
            protected_folders=[folders.inbox],
            reject_report=own.reject_report(partition_key) if output is None else None,
        )
    except UnsafeOutputPathError as error:
        return str(error)
    return None


def run_and_explain(instance, use_case, own, registration, args: argparse.Namespace) -> int:
    """Run the use case's score_file job for the registered file and tell the user how it ended."""
    from scoring_assets.builders.run_tags import Trigger, trigger_tags
    from scoring_assets.core.model_store import ModelIntegrityError
    from scoring_assets.runs import execute_score_run

    try:
        result = execute_score_run(
            instance,
            use_case,
            registration.partition_key,
            job_run_config(args, use_case, verbose=args.verbose),
            tags=trigger_tags(Trigger.CLI),
        )
    except ModelIntegrityError as error:
        _problem(f"{use_case.name} model: {error}")
        return EXIT_MODEL
    outcome = explain(result, own, registration)
    for line in outcome.lines:
        print(line)
    for problem in outcome.problems:
        _problem(problem)
    return outcome.exit_code


def job_run_config(args: argparse.Namespace, use_case, verbose: bool):
    """The use case's score_file job's run config (``dagster.RunConfig``) from the command's options."""
    from scoring_assets.builders.jobs import score_file_run_config
    from scoring_assets.builders.keys import keys_of

    return score_file_run_config(
        keys_of(use_case),
        carry_columns=args.carry or None,
        max_reject_fraction=args.max_reject_fraction,
        threshold=args.threshold,
        output=args.output.expanduser().resolve() if args.output is not None else None,
        loggers=logger_config(verbose),
        reason_inputs=args.reason_inputs,
    )


def logger_config(verbose: bool) -> dict:
    """Dagster's console log only with --verbose: otherwise the CLI prints one line per outcome."""
    return {} if verbose else {"console": {"config": {"log_level": "CRITICAL"}}}


def explain(result, folders, registration) -> ScoreOutcome:
    """Turn a finished run into what the user sees: output lines, problems and an exit code."""
    key = registration.partition_key
    run_line = f"run: {result.run_id} (partition {key}; see it in the UI with `python3 dev.py ui`)"
    if result.success:
        validated = folders.read_stage_summary("validated_batch", key)
        scored = folders.read_stage_summary("scores", key)
        model, threshold = scored["model"]["version"], scored["threshold"]
        lines = [
            f"scored: {scored['output_path']} ({scored['rows']} rows, model {model}, threshold {threshold:.4f})",
            f"manifest: {scored['manifest_path']}",
        ]
        if validated["rows_rejected"]:
            lines.append(f"rejected: {validated['rows_rejected']} rows, see {validated['reject_report']}")
        return ScoreOutcome(EXIT_OK, [*lines, run_line], [])
    return failed_run(result, registration.source_path, [run_line])


def failed_run(result, source_path: str, lines: list[str]) -> ScoreOutcome:
    """A failed run's problems, one line per failed step, and the exit code of its first refusal (else 1)."""
    exit_codes, problems = [], []
    for step, failure in step_failures(result):
        kind, line = refusal_line(step, failure, source_path)
        exit_codes.append(exit_code_for(kind))
        problems.append(line)
    if not problems:
        problems.append(f"run {result.run_id} failed; rerun with --verbose for Dagster's log")
    refusals = [code for code in exit_codes if code != EXIT_ERROR]  # a refusal says more than a crash
    return ScoreOutcome(refusals[0] if refusals else EXIT_ERROR, lines, problems)


def exit_code_for(refusal_kind: str | None) -> int:
    """The exit code for a step's refusal (``scoring_assets.builders.refusals.RefusalKind``); 1 for anything else."""
    from scoring_assets.builders.refusals import RefusalKind

    return {
        RefusalKind.INPUT_FILE: EXIT_REFUSED,
        RefusalKind.TOO_MANY_REJECTS: EXIT_REFUSED,
        RefusalKind.MODEL: EXIT_MODEL,
        RefusalKind.OUTPUT_PATH: EXIT_USAGE,
        RefusalKind.RUN_CONFIG: EXIT_USAGE,
    }.get(refusal_kind, EXIT_ERROR)


def refusal_line(step: str, failure, source_path: str) -> tuple[str | None, str]:
    """(refusal kind, one line for the user) for a failed step; kind is None for an unexpected error."""
    from scoring_assets.builders.refusals import REFUSAL_KIND, RefusalKind

    user_data = failure.step_failure_data.user_failure_data
    if user_data is None:
        error = failure.step_failure_data.error
        if error.cls_name == "DagsterExecutionInterruptedError":
            return None, f"{step}: interrupted (Ctrl-C or SIGTERM); nothing half-written was published"
        while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
            error = error.cause  # Dagster's wrapper around the user code's exception
        return None, f"{step}: {error_text(error)}"
    meta = {name: value.value for name, value in user_data.metadata.items()}
    kind = meta.get(REFUSAL_KIND)
    if kind == RefusalKind.TOO_MANY_REJECTS:
        return kind, (
            f"{source_path}: batch refused: {meta['rows_rejected']} of {meta['rows_in']} rows rejected "
            f"({meta['reject_fraction']:.1%} > {meta['max_reject_fraction']:.1%}); reject report: "
            f"{meta['reject_report']}"
        )
    return kind, f"{step}: {user_data.description}"


def error_text(error) -> str:
    """The first line of an error's message, without Python's ``module.ClassName:`` prefix."""
    first_line = error.message.strip().splitlines()[0] if error.message else error.cls_name
    return re.sub(r"^[\w.]+(Error|Exception|Failure): ", "", first_line)


def step_failures(result) -> list:
    """(step key, step failure event) for each failed step of a finished run."""
    return [(event.step_key, event) for event in result.all_events if event.is_step_failure]


def rescore(args: argparse.Namespace) -> int:
    """Re-score partitions whose scores came from another model than the one DVC records, per use case."""
    from scoring_assets.use_cases import UseCaseError, all_use_cases, use_case

    try:
        chosen = [use_case(args.use_case)] if args.use_case else list(all_use_cases().values())
    except UseCaseError as error:
        _problem(str(error))
        return EXIT_USAGE
    if not args.verbose:
        warnings.filterwarnings("ignore")
    definitions_loaded()
    ensure_dagster_home()
    from dagster import DagsterInstance

    from scoring_assets.builders.keys import keys_of

    instance = DagsterInstance.get()
    known = {each.name: instance.get_dynamic_partitions(keys_of(each).partitions) for each in chosen}
    unknown = sorted(set(args.partition or []) - {key for keys in known.values() for key in keys})
    if unknown:
        _problem(f"no such partition(s): {', '.join(unknown)}")
        return EXIT_USAGE
    codes = [rescore_use_case(instance, each, known[each.name], args) for each in chosen]
    return max(codes, default=EXIT_OK)


def rescore_use_case(instance, use_case, known: list[str], args: argparse.Namespace) -> int:
    """Re-score one use case's chosen partitions that were scored with another model (or all, with --all)."""
    from scoring_assets.builders.scored_models import models_by_partition
    from scoring_assets.core.model_store import ModelIntegrityError
    from scoring_assets.runs import model_store, rescore_settings

    chosen = [key for key in known if not args.partition or key in args.partition]
    try:
        served = model_store().verify(use_case).md5  # files scored before it was first observed need no read
    except ModelIntegrityError:
        served = None  # every file is read; loading the model below says what is wrong
    used = models_by_partition(instance, use_case, served)
    scored = [key for key in chosen if used.get(key) is not None]
    if not scored:
        if args.use_case or args.partition:
            print(f"{use_case.name}: nothing to re-score: no scored file")
        return EXIT_OK
    try:
        model = model_store().load(use_case)
    except ModelIntegrityError as error:
        _problem(f"{use_case.name} model: {error}")
        return EXIT_MODEL
    targets = [key for key in scored if args.all or used[key] != model.md5]
    if not targets:
        print(f"{use_case.name}: nothing to re-score: {len(scored)} scored file(s), all by {model.version}")
        return EXIT_OK
    per_run = args.max_partitions_per_run or rescore_settings().max_partitions_per_run
    if per_run == 1:
        failed = rescore_one_per_run(instance, use_case, targets, model, args)
    else:
        failed = rescore_in_batches(instance, use_case, targets, model, args, per_run)
    print(f"{use_case.name}: {len(targets) - failed} of {len(targets)} file(s) re-scored with {model.version}")
    return EXIT_OK if not failed else EXIT_ERROR


def rescore_one_per_run(instance, use_case, targets: list[str], model, args: argparse.Namespace) -> int:
    """The rescore job once per file (``--max-partitions-per-run 1``); returns how many files failed."""
    from scoring_assets.builders.keys import keys_of
    from scoring_assets.builders.run_tags import Trigger, trigger_tags
    from scoring_assets.runs import execute_score_run

    config, failed = {"loggers": logger_config(args.verbose)}, 0
    for key in targets:
        result = execute_score_run(
            instance, use_case, key, config, job_name=keys_of(use_case).rescore_job, tags=trigger_tags(Trigger.CLI)
        )
        if result.success:
            print(f"re-scored {use_case.name} {key} with {model.version} (run {result.run_id})")
        else:
            failed += 1
            problems = [refusal_line(step, failure, key)[1] for step, failure in step_failures(result)]
            _problem(f"re-scoring {key} failed (run {result.run_id}): {'; '.join(problems) or 'see the UI'}")
    return failed


def rescore_in_batches(instance, use_case, targets: list[str], model, args: argparse.Namespace, per_run: int) -> int:
    """The rescore_batch job over slices of ``per_run`` files, each file reported; returns how many failed."""
    from scoring_assets.builders.batch_rescore import batch_run_config, in_batches
    from scoring_assets.builders.keys import keys_of
    from scoring_assets.builders.run_tags import Trigger, trigger_tags
    from scoring_assets.runs import execute_job, model_store, record_model_observation

    record_model_observation(instance, use_case, model_store())
    failed = 0
    for batch in in_batches(targets, per_run):
        config = batch_run_config(use_case, batch, logger_config(args.verbose))
        result = execute_job(instance, keys_of(use_case).rescore_batch_job, config, trigger_tags(Trigger.CLI))
        refused = batch_refusals(result, batch)
        for key in batch:
            if key in refused:
                _problem(f"re-scoring {key} failed (run {result.run_id}): {refused[key]}")
            else:
                print(f"re-scored {use_case.name} {key} with {model.version} (run {result.run_id})")
        failed += len(refused)
    return failed


def batch_refusals(result, batch: list[str]) -> dict[str, str]:
    """Why each file of a batch run was not re-scored; every file, when the run failed before scoring any."""
    refused: dict[str, str] = {}
    for step, failure in step_failures(result):
        user_data = failure.step_failure_data.user_failure_data
        per_file = user_data.metadata.get("refused") if user_data is not None else None
        if per_file is not None:
            refused.update(per_file.value)
        else:
            line = refusal_line(step, failure, "the batch")[1]
            refused.update({key: line for key in batch})
    return refused


def register_outcomes(args: argparse.Namespace) -> int:
    """Register an outcomes file through its use case's register_outcomes job and tell how the scored files did."""
    from scoring_assets.core.outcomes import outcomes_problem
    from scoring_assets.core.routing import route_outcomes_by_header

    source = Path(os.path.abspath(args.input.expanduser()))
    if not source.is_file():
        _problem(f"{source}: {'not a regular file' if source.exists() else 'input file not found'}")
        return EXIT_USAGE
    use_case = chosen_use_case(source, args.use_case, route_outcomes_by_header)
    if isinstance(use_case, tuple):
        _problem(use_case[1])
        return use_case[0]
    problem = outcomes_problem(use_case)
    if problem:
        _problem(f"no outcomes for {use_case.name}: {problem}")
        return EXIT_USAGE
    if not args.verbose:
        warnings.filterwarnings("ignore")
    definitions_loaded()
    ensure_dagster_home()
    from dagster import DagsterInstance

    from scoring_assets.builders.run_tags import Trigger, trigger_tags
    from scoring_assets.core.outcomes import registered_outcomes_file
    from scoring_assets.core.realized_performance import JOINED
    from scoring_assets.runs import execute_outcomes_run, folders

    own = folders().of(use_case.name)
    registration = registered_outcomes_file(own, source)
    result = execute_outcomes_run(
        DagsterInstance.get(), use_case, source, logger_config(args.verbose), trigger_tags(Trigger.CLI)
    )
    run_line = f"run: {result.run_id} (outcomes {registration.partition_key})"
    if not result.success:
        outcome = failed_run(result, str(source), [] if args.json else [run_line])
    else:
        summary = own.outcomes.read_stage_summary(JOINED, registration.partition_key)
        outcome = ScoreOutcome(EXIT_OK, outcomes_json(summary) if args.json else outcomes_lines(summary), [])
        outcome.lines += [] if args.json else [run_line]
    for line in outcome.lines:
        print(line)
    for problem in outcome.problems:
        _problem(problem)
    return outcome.exit_code


def outcomes_json(summary: dict) -> list[str]:
    """The one JSON object ``outcomes --json`` prints: counts, and per scored file realized vs expected."""
    files = [
        {
            "partition": each["partition"],
            "realized": {name: each["realized"][name] for name in ("roc_auc", "precision", "recall", "brier")},
            "expected": {name: each["expected"][name] for name in ("precision", "recall")},
        }
        for each in summary["files"]
    ]
    counts = {name: summary[name] for name in ("matched", "unmatched", "rejected")}
    return [json.dumps({**counts, "files": files}, sort_keys=True)]


def outcomes_lines(summary: dict) -> list[str]:
    """What ``outcomes`` prints: the counts, the reject report, one line per scored file it touched."""
    lines = [
        f"outcomes: {summary['matched']} matched, {summary['unmatched']} unmatched (never scored before their "
        f"outcome), {summary['rejected']} rejected"
    ]
    if summary["reject_report"]:
        lines.append(f"rejected: {summary['rejected']} rows, see {summary['reject_report']}")

    def shown(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    for each in summary["files"]:
        realized, expected = each["realized"], each["expected"]
        lines.append(
            f"{each['partition']}: {each['rows_with_outcome']} rows with outcome; "
            f"ROC AUC {shown(realized['roc_auc'])}, Brier {shown(realized['brier'])}, "
            f"precision {shown(realized['precision'])} (expected {shown(expected['precision'])}), "
            f"recall {shown(realized['recall'])} (expected {shown(expected['recall'])})"
        )
    return lines


def list_use_cases(args: argparse.Namespace) -> int:
    """Each use case: what it scores, its model version (or why it has none), contract columns, folders."""
    from scoring_assets.core.model_store import ModelIntegrityError
    from scoring_assets.runs import folders, model_store
    from scoring_assets.use_cases import all_use_cases

    store, data_folders = model_store(), folders()
    for use_case in all_use_cases().values():
        try:
            model = store.load(use_case).version
        except ModelIntegrityError as error:
            model = f"not usable: {error}"
        own = data_folders.of(use_case.name)
        print(f"{use_case.name}: {use_case.title}")
        print(f"  model:    {model}")
        print(f"  id:       {use_case.id_column or '(none: rows are identified by row_number)'}")
        print(f"  label:    {use_case.label.column + ' = ' + use_case.label.positive if use_case.label else '(none)'}")
        print(f"  columns:  {', '.join(use_case.contract_columns)}")
        print(f"  inbox:    {own.inbox}")
        print(f"  scored:   {own.scored_folder}")
    return EXIT_OK


def retire(args: argparse.Namespace) -> int:
    """Retire one partition of a use case (``builders.retirement.retire_file``) and say what was kept where."""
    from scoring_assets.use_cases import UseCaseError, use_case

    try:
        chosen = use_case(args.use_case)
    except UseCaseError as error:
        _problem(str(error))
        return EXIT_USAGE
    if not args.reason.strip():
        _problem("--reason may not be blank: say why the file is retired (it is recorded)")
        return EXIT_USAGE
    if not args.verbose:
        warnings.filterwarnings("ignore")
    ensure_dagster_home()
    from dagster import DagsterInstance

    from scoring_assets.builders.retirement import UnknownPartition, retire_file
    from scoring_assets.defs.resources import scoring_resources

    folders = scoring_resources()["folders"]
    try:
        retirement = retire_file(DagsterInstance.get(), chosen, folders, args.partition, args.reason)
    except UnknownPartition as error:
        _problem(str(error))
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"retired": retirement.as_record()}, indent=2, sort_keys=True))
        return EXIT_OK
    print(f"retired: {chosen.name} {retirement.partition} ({retirement.source_path or 'no registered file'})")
    print(f"archived: {len(retirement.archived)} file(s) under {retirement.archive_folder}")
    print(f"recorded in: {folders.of(chosen.name).retired_ledger}")
    return EXIT_OK


def prune(args: argparse.Namespace) -> int:
    """Prune a use case's files scored before the cut (``builders.retention.prune_files``); say what went."""
    from scoring_assets.use_cases import UseCaseError, use_case

    try:
        chosen = use_case(args.use_case)
    except UseCaseError as error:
        _problem(str(error))
        return EXIT_USAGE
    if not args.verbose:
        warnings.filterwarnings("ignore")
    ensure_dagster_home()
    from dagster import DagsterInstance

    from scoring_assets.builders.retention import prune_files
    from scoring_assets.defs.resources import scoring_resources

    folders = scoring_resources()["folders"]
    outcome = prune_files(DagsterInstance.get(), chosen, folders, args.older_than, dry_run=args.dry_run)
    for refused in outcome.refused:
        _problem(f"kept {refused['partition']}: {refused['why']}")
    for database in outcome.not_vacuumed:
        _problem(f"not vacuumed, busy: {database} (the next pruning that removes a file vacuums it)")
    if args.json:
        print(json.dumps(outcome.as_record(), indent=2, sort_keys=True))
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    for each in outcome.removed:
        print(f"{verb}: {chosen.name} {each['partition']} (scored {each['scored_at']}, {each['runs']} run(s))")
    removed, kept, freed = len(outcome.removed), outcome.kept, outcome.bytes_freed
    if args.dry_run:
        print(f"{chosen.name}: {removed} file(s) would go, {kept} would stay; {freed} bytes of lake files freed")
    else:
        print(f"{chosen.name}: {removed} file(s) removed, {kept} kept, {freed} bytes freed")
    if outcome.removed and not args.dry_run:
        print(f"recorded in: {folders.of(chosen.name).pruned_ledger}")
    return EXIT_OK


def show_lineage(args: argparse.Namespace) -> int:
    """Where a scored file came from, read from its manifest and the lake (no Dagster: ``settings``, not resources)."""
    from scoring_assets.core.folders import UseCaseFolders
    from scoring_assets.core.manifest import LineageError, lineage
    from scoring_assets.core.retirement import retired_scored_file
    from scoring_assets.settings import data_folder
    from scoring_assets.use_cases import all_use_cases

    root = data_folder()
    scored, retirement = retired_scored_file([UseCaseFolders(root, name) for name in all_use_cases()], args.scored)
    try:
        summary = lineage(scored)
    except LineageError as error:
        _problem(str(error))
        return EXIT_USAGE
    summary["still_the_champion"] = still_the_champion(summary["model"])
    summary["retired"] = (
        {name: retirement[name] for name in ("when", "who", "why", "archive_folder")} if retirement else None
    )
    summary["pruned"] = pruned_from_dagster(root, summary)
    print(json.dumps(summary, indent=2, sort_keys=True))
    if not summary["matches_manifest"]:
        _problem(
            f"{args.scored}: sha256 {summary['scored_sha256']} does not match its manifest "
            f"({summary['recorded_sha256']}): the scored file was modified after it was written"
        )
        return EXIT_ERROR
    return EXIT_OK


def write_evidence(args: argparse.Namespace) -> int:
    """Write a scored file's evidence bundle (``builders.evidence``); 2: unknown file, or --out exists; 1: modified."""
    from scoring_assets.builders.evidence import evidence_bundle
    from scoring_assets.core.evidence import EvidenceError, EvidenceMismatch
    from scoring_assets.defs.resources import scoring_resources

    resources = scoring_resources()
    try:
        use_case, scored = evidence_target(args.target, args.use_case, resources["folders"])
        out = Path(os.path.abspath(args.out.expanduser()))
        record = evidence_bundle(use_case, resources["folders"], resources["model_store"], scored, out)
    except EvidenceError as error:
        _problem(str(error))
        return EXIT_USAGE
    except EvidenceMismatch as mismatch:
        for item in mismatch.items:
            _problem(f"{item.name} {item.source}: {item.note}; no evidence bundle written")
        return EXIT_ERROR
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
        return EXIT_OK
    print(f"evidence: {out} ({len(record['items'])} items, every recorded hash verified)")
    print(f"index: {out / 'index.html'}")
    return EXIT_OK


def evidence_target(target: str, name: str | None, folders):
    """(use case, scored file) for a scored file's path or a partition key; ``EvidenceError`` if it is neither."""
    from scoring_assets.core.evidence import EvidenceError, scored_file_of
    from scoring_assets.core.manifest import LineageError, read_manifest
    from scoring_assets.core.partition_keys import PartitionKeyError
    from scoring_assets.use_cases import UseCaseError, all_use_cases, use_case

    try:
        chosen = [use_case(name)] if name else list(all_use_cases().values())
    except UseCaseError as error:
        raise EvidenceError(str(error)) from None
    path = Path(target).expanduser()
    if path.is_file():
        try:
            recorded = read_manifest(path).model.use_case
        except (LineageError, ValueError) as error:
            raise EvidenceError(f"{path}: {error}") from None
        named = [each for each in chosen if each.name == (recorded or name)]
        if not named:
            raise EvidenceError(f"{path}: its manifest names use case {recorded!r}; say which with --use-case")
        return named[0], path.resolve()
    try:
        found = [each for each in chosen if folders.of(each.name).lake_file("scores", target, ".json").exists()]
    except PartitionKeyError:
        found = []
    if not found:
        names = ", ".join(each.name for each in chosen)
        raise EvidenceError(f"{target}: neither a scored file nor a scored partition of {names}")
    return found[0], scored_file_of(folders.of(found[0].name), target)


def pruned_from_dagster(data_root: Path, summary: dict) -> dict | None:
    """When the scored file's partition was pruned from Dagster and the runs it had there (None: never pruned).

    Read from the use case's pruned ledger in the lake (``core.retention``), not from the instance.
    """
    from scoring_assets.core.folders import UseCaseFolders
    from scoring_assets.core.retention import pruned_record
    from scoring_assets.use_cases import all_use_cases

    use_case, key = summary["model"].get("use_case"), summary["partition_key"]
    if use_case not in all_use_cases() or not key:
        return None
    record = pruned_record(UseCaseFolders(data_root, use_case), key)
    return {name: record[name] for name in ("when", "who", "scored_at", "runs")} if record else None


def model_lifecycle(args: argparse.Namespace) -> int:
    """promote, rollback, discard or models for one use case, in the model store's DVC project."""
    from scoring_assets.core import model_lifecycle as lifecycle
    from scoring_assets.core.model_lifecycle import LifecycleRefused, Refusal
    from scoring_assets.core.model_store import ModelIntegrityError
    from scoring_assets.defs.resources import scoring_resources
    from scoring_assets.use_cases import UseCaseError, use_case

    lifecycle.pause_at = os.environ.get(lifecycle.PAUSE_VARIABLE)  # the kill -9 tests' seam (core.model_lifecycle)

    try:
        chosen = use_case(args.use_case)
    except UseCaseError as error:
        _problem(str(error))
        return EXIT_USAGE
    if args.command == "promote" and args.force and not args.reason.strip():
        _problem("--force needs --reason: say why the gate is overridden (it is recorded)")
        return EXIT_USAGE
    root = scoring_resources()["model_store"].root_of(chosen)
    try:
        outcome = lifecycle_outcome(args, chosen, root)
    except LifecycleRefused as error:
        _problem(f"{chosen.name}: {error}")
        return EXIT_GATE if error.refusal == Refusal.GATE else EXIT_USAGE
    except ModelIntegrityError as error:
        _problem(f"{chosen.name} model: {error}")
        return EXIT_MODEL
    if getattr(args, "json", False):
        print(json.dumps(outcome, indent=2))
    else:
        print_lifecycle_outcome(args.command, chosen, root, outcome)
    return EXIT_OK


def train_challenger(args: argparse.Namespace) -> int:
    """Run the use case's train_challenger job (training set, challenger, gate) in process; print the outcome."""
    from scoring_assets.training.challenger import GENERATED, PRODUCTION
    from scoring_assets.use_cases import UseCaseError, use_case

    try:
        chosen = use_case(args.use_case)
    except UseCaseError as error:
        _problem(str(error))
        return EXIT_USAGE
    training_set = args.training_set
    if training_set not in (PRODUCTION, GENERATED):
        training_set = str(Path(training_set).expanduser().resolve())
    if not args.verbose:
        warnings.filterwarnings("ignore")
    definitions_loaded()
    ensure_dagster_home()
    result = run_train_challenger_job(chosen, training_set, args.verbose)
    trained = trained_outcome(result, chosen)
    if trained is None:
        outcome = failed_run(result, training_set, [])
        for problem in outcome.problems:
            _problem(problem)
        return outcome.exit_code
    if args.json:
        print(json.dumps(trained, indent=2))
    else:
        print_trained(chosen, trained)
    print(f"run: {result.run_id}", file=sys.stderr)
    return EXIT_OK


def run_train_challenger_job(use_case, training_set: str, verbose: bool):
    """The train_challenger job, run here and recorded in the instance; training's progress lines go to stderr."""
    from dagster import DagsterInstance

    from scoring_assets.builders.challenger import train_challenger_run_config
    from scoring_assets.builders.keys import keys_of
    from scoring_assets.builders.run_tags import Trigger, trigger_tags
    from scoring_assets.runs import execute_job

    run_config = train_challenger_run_config(use_case, training_set, logger_config(verbose))
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the outcome
        return execute_job(
            DagsterInstance.get(), keys_of(use_case).train_challenger_job, run_config, trigger_tags(Trigger.CLI)
        )


def trained_outcome(result, use_case) -> dict | None:
    """What ``train --json`` prints, read from the challenger's materialization (None: none was trained).

    A challenger the gate refused is materialized all the same: its blocking check then fails the
    run (nothing downstream may use it), but training did what was asked, so ``train`` exits 0.
    """
    from scoring_assets.builders.keys import keys_of

    materializations = result.asset_materializations_for_node(keys_of(use_case).challenger_op)
    if not materializations:
        return None
    meta = {name: value.value for name, value in materializations[-1].metadata.items()}
    return {
        "challenger_md5": meta["challenger_md5"],
        "metrics": meta["metrics"],
        "gate": meta["gate"],
        "impact_report": meta["impact_report"],
        "promoted": meta["promoted"],
        "training_set": meta["trained_on"],
        "run_id": result.run_id,
    }


def print_trained(use_case, outcome: dict) -> None:
    """What a person reads after ``train``: the challenger, its test metrics and each gate criterion."""
    from scoring_assets.core.model_history import training_set_line

    gate = outcome["gate"]
    print(f"challenger: {use_case.model_version(outcome['challenger_md5'])}")
    print(f"trained on: {training_set_line(outcome['training_set'])}")
    print("metrics on its test split: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome["metrics"].items())))
    print(f"gate: {'passed' if gate['passed'] else 'refused'}")
    for each in gate["criteria"]:
        note = f" ({each['note']})" if each.get("note") else ""
        verdict = "pass" if each["passed"] else "FAIL"
        print(f"  {verdict} {each['name']} = {each['value']} (threshold {each['threshold']}){note}")
    print(f"impact report: {outcome['impact_report']}")
    if outcome["promoted"]:
        print("promoted (the use case's policy promotes a challenger the gate passed)")


def lifecycle_outcome(args: argparse.Namespace, use_case, root: Path) -> dict:
    """Run the command's core function; what it did (or, for ``models``, what there is) as one JSON object."""
    from scoring_assets.core import model_lifecycle

    if args.command == "models":
        return model_lifecycle.models_overview(use_case, root)
    if args.command == "discard":
        record = model_lifecycle.discard(use_case, root)
        return {"discarded_md5": record["model_md5"], "record": record}
    if args.command == "promote":
        switch = model_lifecycle.promote(use_case, root, force=args.force, reason=args.reason)
    else:
        switch = model_lifecycle.rollback(use_case, root, to=args.to)
    return switch.as_record()


def print_lifecycle_outcome(command: str, use_case, root: Path, outcome: dict) -> None:
    """What a person reads after a lifecycle command (``--json`` prints ``outcome`` itself)."""
    from scoring_assets.core.model_history import why_of

    if command == "discard":
        print(f"discarded the challenger {use_case.model_version(outcome['discarded_md5'])}")
    elif command in ("promote", "rollback"):
        served, previous = (
            use_case.model_version(outcome["served_md5"]),
            use_case.model_version(outcome["previous_md5"]),
        )
        print(f"{'promoted' if command == 'promote' else 'rolled back'}: serving {served} (was {previous})")
        print(f"to commit: git -C {root} status (served.dvc, model_history.jsonl)")
    else:
        champion, challenger = outcome["champion"], outcome["challenger"]
        print(f"champion:   {champion['version']} ({champion['source']})")
        print(f"challenger: {challenger['version'] if challenger else '(none)'}")
        for record in outcome["history"]:
            print(
                f"  {record['when']} {record['event']:<11} {use_case.model_version(record['model_md5'])} "
                f"by {record['who']}: {why_of(record)}"
            )


def service_status(args: argparse.Namespace) -> int:
    """Print the daemon's heartbeats and the running sensors' last ticks; exit 1 when any is stale or missing."""
    ensure_dagster_home()
    from dagster import DagsterInstance

    from scoring_assets.service_status import service_liveness, status_record

    found = service_liveness(DagsterInstance.get(), args.max_age)
    record = status_record(found, args.max_age)
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"service: {'healthy' if record['healthy'] else 'STALE'} (max age {args.max_age:g} s)")
        for each in found:
            print(f"  {each.line()}")
    return EXIT_OK if record["healthy"] else EXIT_ERROR


def serve_reports(args: argparse.Namespace) -> int:
    """Serve the reports until Ctrl-C or SIGTERM (then exit 0); 2 when the address is not HOST:PORT."""
    from scoring_assets.report_server import configured_report_server

    try:
        server = configured_report_server(args.reports_address)
    except ValueError as error:
        _problem(f"--reports-address: {error}")
        return EXIT_USAGE
    host, port = server.server_address[:2]
    print(f"serving the reports of {server.data_dir} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("report server stopped", flush=True)
    finally:
        server.server_close()
    return EXIT_OK


def still_the_champion(model: dict) -> bool | None:
    """Whether the model a manifest names is the one served now; None when that cannot be told.

    Verified as the ``model_store`` resource verifies it, with its root read from ``settings`` (no Dagster).
    """
    from scoring_assets.core.model_store import ModelIntegrityError, model_project, verify_artifact
    from scoring_assets.settings import model_store_root
    from scoring_assets.use_cases import UseCaseError, use_case

    try:
        declared = use_case(model.get("use_case", ""))
        served = verify_artifact(declared, model_project(declared, model_store_root()))
    except (UseCaseError, ModelIntegrityError):
        return None
    return served.md5 == model.get("md5")


def new_use_case(args: argparse.Namespace) -> int:
    """Draft the use case; print what was written, what was assumed and what to run next (2: refused)."""
    from scoring_assets.core.paths import REPO_ROOT
    from scoring_assets.scaffold import ScaffoldRefused, ScaffoldRequest, scaffold_use_case

    request = ScaffoldRequest(
        args.name, args.sample, args.label, args.positive, args.id_column, REPO_ROOT, args.package_dir
    )
    try:
        result = scaffold_use_case(request)
    except ScaffoldRefused as refusal:
        _problem(f"new-use-case {args.name}: nothing written: {refusal}")
        return EXIT_USAGE
    print(f"drafted use case {args.name}:")
    print("".join(f"  wrote {path}\n" for path in result.written), end="")
    print("assumed (review the REVIEW comments in the package):")
    print("".join(f"  - {line}\n" for line in result.assumptions), end="")
    print("next:")
    if result.stages:
        print(f"  dvc repro {' '.join(result.stages)}   # with the project's Python first on PATH")
    else:
        module = f"SCORING_USE_CASE_MODULES={args.name} PYTHONPATH={args.package_dir}"
        print(f"  train it (DVC stages train packages in scoring_assets/use_cases/ only), then {module} before:")
    print(f"  scoring-assets score {args.sample} --use-case {args.name}")
    print(
        "  .venv/bin/python -m pytest -m 'not e2e' tests/test_contract.py tests/test_features.py "
        "tests/test_input_csv.py tests/test_scoring_job.py tests/test_file_story.py"
    )
    if result.stages:
        print("  .venv/bin/python -m pytest tests/test_dvc_pipeline.py   # then commit dvc.lock")
    return EXIT_OK
