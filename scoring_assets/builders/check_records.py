"""Keeping a step's check results in the lake as it reports them to Dagster (``core.check_results``).

Called by ``refusals.materialize_or_refuse``, the one place every file step hands its check results
to Dagster through, so what the lake keeps is exactly what the check history shows: the same
verdict, description and figures, with the check's meaning (its spec's description) and the
run's tags, which Dagster keeps only as long as it keeps the run.
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from scoring_assets.core.check_results import append_check_record, check_record
from scoring_assets.core.folders import UseCaseFolders


def _plain(value: object) -> object:
    return value.value if isinstance(value, dg.MetadataValue) else value


def check_as_record(check: dg.AssetCheckResult, meaning: str) -> dict:
    return {
        "name": check.check_name,
        "passed": bool(check.passed),
        "severity": check.severity.value,
        "meaning": meaning,
        "description": check.description,
        "metadata": {name: _plain(value) for name, value in (check.metadata or {}).items()},
    }


def record_check_results(
    context: dg.AssetExecutionContext, own: UseCaseFolders, checks: list[dg.AssetCheckResult]
) -> None:
    """Append one record per checked asset to the partition's check log."""
    if not checks:
        return
    meanings = {(spec.asset_key, spec.name): spec.description or "" for spec in context.assets_def.check_specs}
    by_asset: dict[dg.AssetKey, list[dict]] = defaultdict(list)
    for check in checks:
        by_asset[check.asset_key].append(check_as_record(check, meanings.get((check.asset_key, check.check_name), "")))
    run = context.instance.get_run_by_id(context.run.run_id) or context.run  # with the tags steps added since
    for asset_key, records in by_asset.items():
        record = check_record(run.run_id, dict(run.tags), asset_key.path[-1], records)
        append_check_record(own.check_results(context.partition_key), record)
