"""How a step says no: an expected refusal is a ``dagster.Failure`` with one line and metadata.

A file that cannot be scored (unreadable, no rows, too many bad rows, a model that fails its
integrity check, an output path that would reach the input) is an outcome, not a crash. The
refusing step:
- records the failed blocking checks for the file's partition (the check history says why);
- records an observation of its asset for that partition, "refused: <reason>" with the
  figures, so the asset's Events tab tells the file's story beside its red partition (Dagster
  OSS keeps no per-partition failure reasons of its own);
- fails with a one-line description and ``refusal_kind`` in its metadata, from which the CLI
  picks its exit code.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetObservation,
    Failure,
    MaterializeResult,
)

from scoring_assets.builders.check_records import record_check_results
from scoring_assets.core.folders import UseCaseFolders

REFUSAL_KIND = "refusal_kind"


class RefusalKind(StrEnum):
    """Why a step refused; the CLI's exit codes are keyed on these values (kept as text in the step's metadata)."""

    INPUT_FILE = "input_file"  # the file as a whole cannot be used (exit 3)
    TOO_MANY_REJECTS = "too_many_rejects"  # more bad rows than allowed (exit 3)
    MODEL = "model"  # the model is missing or failed its integrity check (exit 4)
    OUTPUT_PATH = "output_path"  # an output would overwrite the input (exit 2)
    # The run asks for something impossible, e.g. to carry a column under a name the scored file already
    # has (exit 2); a column to carry that the file lacks is the file's problem (INPUT_FILE, exit 3).
    RUN_CONFIG = "run_config"
    CHECK_FAILED = "check_failed"  # a blocking check caught a defect in what a step wrote (exit 1)


def refusal(context: AssetExecutionContext, kind: RefusalKind, description: str, **metadata) -> Failure:
    """Record why the step's file is refused and return the Failure to raise (no retries: same input, same end)."""
    metadata = {REFUSAL_KIND: RefusalKind(kind).value, **metadata}
    for asset_key in context.assets_def.keys:
        context.log_event(
            AssetObservation(
                asset_key=asset_key,
                partition=context.partition_key if context.has_partition_key else None,
                description=f"refused: {description}",
                metadata={"outcome": "refused", **metadata},
            )
        )
    return Failure(description=description, metadata=metadata, allow_retries=False)


def materialize_or_refuse(
    context: AssetExecutionContext,
    own: UseCaseFolders,
    *results: MaterializeResult,
    kind: RefusalKind = RefusalKind.CHECK_FAILED,
    reason: str = "",
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Yield the materializations if every check passed; else record the checks and refuse.

    A refused file is never shown as materialized: the failed checks are recorded for its
    partition and the step fails with their descriptions (``reason`` is appended, e.g. where
    the reject report is), carrying the would-be materializations' figures. Either way every
    check result is also kept in the use case's lake (``own``; ``check_records``), where no
    pruning of Dagster's history reaches it.
    """
    checks = [check for result in results for check in (result.check_results or [])]
    record_check_results(context, own, checks)
    # Only blocking (ERROR) checks refuse; a WARN check (drift) is recorded with the materialization.
    failed = [check for check in checks if not check.passed and check.severity == AssetCheckSeverity.ERROR]
    if not failed:
        yield from results
        return
    yield from checks
    description = "; ".join(f"{check.check_name}: {check.description}" for check in failed)
    figures = {name: value for result in results for name, value in (result.metadata or {}).items()}
    raise refusal(
        context, kind, f"{description}{'; ' + reason if reason else ''}", **figures, failed_checks=len(failed)
    )
