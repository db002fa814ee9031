"""Which model scored which partition: the questions the model sensors, the CLI and re-scoring ask the instance.

A ``scores`` materialization records the model's md5 as its input data version
(``UseCaseKeys.model_used_tag``). Dagster indexes no such tag (only ``dagster/data_version`` goes
into its asset event tags), so it is read from the materialization itself: ~1.4 CPU-ms each, most of
it rebuilding the event's metadata. What saves reading: the md5 a materialization records is the
data version of a model observation stored before it (Dagster's step reads the latest one; so does
``batch_rescore.provenance_tags``), and the model is observed once per change of md5. So a partition
whose latest scores were stored before a model's first observation was scored with another model,
unread: asking about a model never observed (a new one) reads nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.use_case import UseCase

FETCH_PAGE = 1000
STALE_COUNT_BUDGET_SECONDS = 15.0
# What models_by_partition says of a partition scored before the model asked about was first observed.
ANOTHER_MODEL = "another model (scored before this one was first observed)"


@dataclass(frozen=True)
class ScoredPartition:
    """A partition's latest ``scores`` materialization and the model md5 it used."""

    storage_id: int
    partition: str
    model_md5: str | None


def latest_scores_by_partition(
    instance: dg.DagsterInstance, use_case: UseCase, after_storage_id: int | None = None
) -> dict[str, int]:
    """Each existing partition's latest ``scores`` materialization (its storage id): one grouped query.

    Partitions retired or pruned since (deleted from the partition set) are left out; with
    ``after_storage_id``, only partitions materialized since then.
    """
    latest = instance.get_latest_storage_id_by_partition(
        keys_of(use_case).scores, dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=after_storage_id
    )
    existing = instance.get_existing_dynamic_partitions(keys_of(use_case).partitions, list(latest))
    return {key: storage_id for key, storage_id in latest.items() if key in existing}


def latest_scores_storage_ids(
    instance: dg.DagsterInstance, use_case: UseCase, after_storage_id: int | None = None
) -> list[int]:
    """Storage ids of each existing partition's latest ``scores`` materialization, oldest first."""
    return sorted(latest_scores_by_partition(instance, use_case, after_storage_id).values())


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


def models_used_by_page(
    instance: dg.DagsterInstance, use_case: UseCase, storage_ids: list[int]
) -> Iterator[list[ScoredPartition]]:
    """``models_used`` for ``FETCH_PAGE`` storage ids at a time (a query each), so a caller may stop between pages."""
    for start in range(0, len(storage_ids), FETCH_PAGE):
        yield models_used(instance, use_case, storage_ids[start : start + FETCH_PAGE])


def first_observed(instance: dg.DagsterInstance, use_case: UseCase, model_md5: str) -> int | None:
    """Storage id of the model's first observation with data version ``model_md5``; None: never observed.

    Observations are read oldest first, a page at a time; there is one per change of model.
    """
    cursor = None
    while True:
        page = instance.fetch_observations(keys_of(use_case).model, limit=FETCH_PAGE, cursor=cursor, ascending=True)
        for record in page.records:
            if record.asset_observation is not None and record.asset_observation.data_version == model_md5:
                return record.storage_id
        if not page.has_more:
            return None
        cursor = page.cursor


def scored_since(latest: dict[str, int], first_observation: int | None) -> dict[str, int]:
    """The partitions whose latest scores were stored after the model's first observation: only they may use it."""
    if first_observation is None:
        return {}
    return {key: storage_id for key, storage_id in latest.items() if storage_id > first_observation}


@dataclass(frozen=True)
class StaleCount:
    """Scored partitions last scored with another model, out of those counted (all, unless time ran out)."""

    stale: int
    counted: int
    scored: int


def count_stale_partitions(instance: dg.DagsterInstance, use_case: UseCase, model_md5: str) -> StaleCount:
    """How many scored partitions were last scored with another model than ``model_md5``.

    Those scored before the model's first observation count without a read (``scored_since``); the
    others are read a page at a time, and reading stops after ``STALE_COUNT_BUDGET_SECONDS`` to keep
    the tick well inside Dagster's 60 s (the count is then a lower bound).
    """
    latest = latest_scores_by_partition(instance, use_case)
    to_read = sorted(scored_since(latest, first_observed(instance, use_case, model_md5)).values())
    stale = counted = len(latest) - len(to_read)
    started = time.monotonic()
    for page in models_used_by_page(instance, use_case, to_read):
        stale += sum(scored.model_md5 != model_md5 for scored in page)
        counted += len(page)
        if time.monotonic() - started > STALE_COUNT_BUDGET_SECONDS:
            break
    return StaleCount(stale, counted, len(latest))


def models_by_partition(
    instance: dg.DagsterInstance, use_case: UseCase, model_md5: str | None = None
) -> dict[str, str | None]:
    """Every scored partition and the model md5 its latest scores used: a query per 1,000 partitions read.

    What ``rescore`` plans from. With ``model_md5`` (the model it would re-score with), a partition
    scored before that model's first observation is not read: it maps to ``ANOTHER_MODEL``.
    """
    latest = latest_scores_by_partition(instance, use_case)
    to_read = latest if model_md5 is None else scored_since(latest, first_observed(instance, use_case, model_md5))
    used: dict[str, str | None] = {key: ANOTHER_MODEL for key in latest if key not in to_read}
    for page in models_used_by_page(instance, use_case, sorted(to_read.values())):
        used.update((scored.partition, scored.model_md5) for scored in page)
    return used


def scored_with_model(instance: dg.DagsterInstance, use_case: UseCase, partition_key: str) -> str | None:
    """The model md5 the partition's latest ``scores`` materialization used (None if never scored)."""
    keys = keys_of(use_case)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=keys.scores, asset_partitions=[partition_key]), limit=1
    ).records
    if not records:
        return None
    return records[0].asset_materialization.tags.get(keys.model_used_tag)
