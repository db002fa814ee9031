"""Which model scored which partition: the questions the model sensors, the CLI and re-scoring ask the instance.

A ``scores`` materialization records the model's md5 as its input data version
(``UseCaseKeys.model_used_tag``); these read it back in few queries, so a tick stays well
inside Dagster's 60 s even with tens of thousands of scored files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dagster as dg

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.use_case import UseCase

FETCH_PAGE = 1000
STALE_COUNT_BUDGET_SECONDS = 15.0


@dataclass(frozen=True)
class ScoredPartition:
    """A partition's latest ``scores`` materialization and the model md5 it used."""

    storage_id: int
    partition: str
    model_md5: str | None


def latest_scores_storage_ids(
    instance: dg.DagsterInstance, use_case: UseCase, after_storage_id: int | None = None
) -> list[int]:
    """Storage ids of each existing partition's latest ``scores`` materialization, oldest first.

    One grouped query; with ``after_storage_id``, only partitions materialized since then.
    """
    latest = instance.get_latest_storage_id_by_partition(
        keys_of(use_case).scores, dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=after_storage_id
    )
    existing = instance.get_existing_dynamic_partitions(keys_of(use_case).partitions, list(latest))
    return sorted(storage_id for key, storage_id in latest.items() if key in existing)


def models_used(instance: dg.DagsterInstance, use_case: UseCase, storage_ids: list[int]) -> list[ScoredPartition]:
    """The partition and model md5 of these ``scores`` materializations: one query, so pass one page (not none)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=keys_of(use_case).scores, storage_ids=storage_ids), limit=len(storage_ids)
    ).records
    tag = keys_of(use_case).model_used_tag
    scored = [
        ScoredPartition(record.storage_id, record.partition_key, record.asset_materialization.tags.get(tag))
        for record in records
    ]
    return sorted(scored, key=lambda item: item.storage_id)


@dataclass(frozen=True)
class StaleCount:
    """Scored partitions last scored with another model, out of those counted (all, unless time ran out)."""

    stale: int
    counted: int
    scored: int


def count_stale_partitions(instance: dg.DagsterInstance, use_case: UseCase, model_md5: str) -> StaleCount:
    """How many scored partitions were last scored with another model than ``model_md5``.

    Reading a materialization costs ~0.4 ms, so counting stops after ``STALE_COUNT_BUDGET_SECONDS``
    (~40,000 partitions on a 2-core machine) to keep the tick well inside Dagster's 60 s; the
    count is then a lower bound.
    """
    storage_ids = latest_scores_storage_ids(instance, use_case)
    stale = counted = 0
    started = time.monotonic()
    for start in range(0, len(storage_ids), FETCH_PAGE):
        page = models_used(instance, use_case, storage_ids[start : start + FETCH_PAGE])
        stale += sum(scored.model_md5 != model_md5 for scored in page)
        counted += len(page)
        if time.monotonic() - started > STALE_COUNT_BUDGET_SECONDS:
            break
    return StaleCount(stale, counted, len(storage_ids))


def models_by_partition(instance: dg.DagsterInstance, use_case: UseCase) -> dict[str, str | None]:
    """Every scored partition and the model md5 its latest scores used: a query per 1,000 partitions.

    What ``rescore`` plans from; one ``scored_with_model`` per partition cost ~3 ms a file (a minute
    at 10,000 files, bench/years_of_files.py).
    """
    storage_ids = latest_scores_storage_ids(instance, use_case)
    return {
        scored.partition: scored.model_md5
        for start in range(0, len(storage_ids), FETCH_PAGE)
        for scored in models_used(instance, use_case, storage_ids[start : start + FETCH_PAGE])
    }


def scored_with_model(instance: dg.DagsterInstance, use_case: UseCase, partition_key: str) -> str | None:
    """The model md5 the partition's latest ``scores`` materialization used (None if never scored)."""
    keys = keys_of(use_case)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=keys.scores, asset_partitions=[partition_key]), limit=1
    ).records
    if not records:
        return None
    return records[0].asset_materialization.tags.get(keys.model_used_tag)
