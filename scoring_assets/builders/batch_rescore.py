"""``<use case>__rescore_batch``: many already scored files re-scored in one run, each still its own partition.

A run per file costs ~1 s of Dagster bookkeeping before any scoring; re-scoring 100,000 files
after a model change would take days. This job's one step re-scores every partition its config
lists, in turn, with the model verified once, and records for each file exactly what the
``<use case>__rescore`` job records for it: the ``scores`` and ``scoring_manifest`` materializations
(same metadata, the model's md5 as input data version), every check result, the lake's check
log, the archive of what it replaces, the manifest, and ``shadow_scores`` while a challenger
exists. Each event names its file's partition, so the UI, lineage and the model sensors see
per-file results as if each file had had its own run.

Why not a backfill of ranged runs (``BackfillPolicy.multi_run``): in a run over a partition range
Dagster gives every partition of the range one materialization with the same metadata, and the
step's downstream (``shadow_scores``) is skipped unless the multi-asset yields outputs for the whole
range; per-file figures would be lost. Logging per-partition ``AssetMaterialization`` and
``AssetCheckEvaluation`` events from one op keeps them.

One file's refusal is that file's alone: its failed checks and a "refused" observation are
recorded against its partition, it keeps its earlier scored file, and the next file is scored.
After the last file the step fails if any file was refused, naming each one and why, so the run
is never green with a file left behind, while every other file's results stand.
"""

import hashlib
import logging
from collections.abc import Iterator

import dagster as dg

# Not exported by dagster, but what its own step uses to record a materialization's lineage (data versions) and to
# point a check at the materialization it judged; tests/test_batch_rescore.py holds the result to a per-file run's.
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    compute_logical_data_version,
    extract_data_version_from_entry,
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)
from pydantic import Field

from scoring_assets.builders.ingest_assets import CODE_VERSION, registered_input
from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.prediction_assets import ScoringConfig, model_or_problem, publish_file_scores
from scoring_assets.builders.refusals import REFUSAL_KIND, RefusalKind
from scoring_assets.builders.resources import ModelStore, ScoringFolders
from scoring_assets.builders.run_tags import BATCH_FILES, tag_run, use_case_tags
from scoring_assets.builders.shadow_assets import (
    challenger_to_shadow_with,
    record_unusable_challenger,
    shadow_score_partition,
)
from scoring_assets.core.model_store import LoadedModel
from scoring_assets.core.use_case import UseCase

FILE_LOG = logging.getLogger("scoring_assets.batch_rescore")


class RescoreBatchConfig(dg.Config):
    partitions: list[str] = Field(description="The partitions (files) to re-score, in this order, each on its own.")


class OneFileOfBatch:
    """One file of a batch run, as the per-file step code sees its step: its own partition, the run's everything else.

    ``assets_def`` is the multi-asset whose per-file code runs (its keys and check specs name what is recorded).
    """

    has_partition_key = True

    def __init__(
        self,
        context: dg.OpExecutionContext,
        partition_key: str,
        assets_def: dg.AssetsDefinition,
        unpartitioned: dict[dg.AssetKey, object] | None = None,
    ):
        self.partition_key = partition_key
        self.assets_def = assets_def
        self.instance, self.run = context.instance, context.run
        # Per-file lines go to the console only: each line in Dagster's event log costs a stored event
        # (~30 ms on SQLite), and what they say is in the file's own materializations already.
        self.log = FILE_LOG
        self.log_event = context.log_event
        self._latest: dict[dg.AssetKey, object] = {}
        self._unpartitioned = {} if unpartitioned is None else unpartitioned  # shared by the batch's files

    def latest_record(self, asset_key: dg.AssetKey):
        """The latest materialization (or observation) with a data version of ``asset_key`` for this file.

        Remembered until this file materializes the asset again (``materialized``): a file's
        checks and its manifest's lineage need the same few records, and each query costs ~10 ms.
        An asset without partitions (the model) is looked up once per batch.
        """
        if asset_key not in self._latest:
            record = self.instance.get_latest_data_version_record(asset_key, partition_key=self.partition_key)
            self._latest[asset_key] = record
            if record is None and asset_key not in self._unpartitioned:
                self._unpartitioned[asset_key] = self.instance.get_latest_data_version_record(asset_key)
        return self._latest[asset_key]

    def unpartitioned_record(self, asset_key: dg.AssetKey):
        return self._unpartitioned.get(asset_key)

    def materialized(self, asset_key: dg.AssetKey) -> None:
        self._latest.pop(asset_key, None)


def build_rescore_batch_job(
    use_case: UseCase, score_and_publish: dg.AssetsDefinition, shadow_scores: dg.AssetsDefinition
) -> dg.JobDefinition:
    """The batch job: one op that re-scores each listed partition as the rescore job would, file by file."""
    keys = keys_of(use_case)

    @dg.op(
        name=keys.rescore_files_op,
        out={},
        description=f"Re-score each listed {use_case.name} partition with the current model: scores, manifest, checks "
        "and shadow scores recorded per partition; a refused file is reported, never stops the others.",
    )
    def rescore_files(
        context: dg.OpExecutionContext, config: RescoreBatchConfig, folders: ScoringFolders, model_store: ModelStore
    ):
        tag_run(context.instance, context.run, {BATCH_FILES: str(len(config.partitions))})
        model, problem = model_or_problem(context.instance, use_case, model_store)
        if problem:  # no file touched: the whole batch waits for a model that can be verified
            raise dg.Failure(description=problem, metadata={REFUSAL_KIND: RefusalKind.MODEL.value}, allow_retries=False)
        challenger = challenger_to_shadow_with(use_case, model_store)
        refused: dict[str, str] = {}
        unpartitioned: dict[dg.AssetKey, object] = {}  # the model's latest observation, looked up once
        for key in config.partitions:
            if not context.instance.has_dynamic_partition(keys.partitions, key):
                refused[key] = f"no such partition of {keys.partitions}"
                continue
            one = OneFileOfBatch(context, key, score_and_publish, unpartitioned)
            try:
                yield from partition_events(one, rescore_one_file(one, use_case, folders, model))
            except Exception as error:  # noqa: BLE001 - a file's failure is reported with the batch, never stops it
                refused[key] = file_failure(context, key, error)
                continue
            try:
                shadow = OneFileOfBatch(context, key, shadow_scores, unpartitioned)
                yield from shadow_events(shadow, use_case, folders, challenger)
            except Exception as error:  # noqa: BLE001 - as above; the file's new scores stand
                refused[key] = f"re-scored, but not shadow-scored: {file_failure(context, key, error)}"
        finish_batch(context, use_case, config.partitions, refused)

    @dg.job(
        name=keys.rescore_batch_job,
        executor_def=dg.in_process_executor,
        tags=use_case_tags(use_case.name),
        description=rescore_batch_description(use_case),
    )
    def rescore_batch():
        rescore_files()

    return rescore_batch


def rescore_batch_description(use_case: UseCase) -> str:
    return (
        f"Re-score many already scored {use_case.name} files in one run (config: partitions), each recorded against "
        "its own partition as the rescore job records it. The CLI's `rescore` and the rescore sensor run this job "
        "in batches of SCORING_MAX_PARTITIONS_PER_RUN files."
    )


def rescore_one_file(
    one: OneFileOfBatch, use_case: UseCase, folders: ScoringFolders, model: LoadedModel
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    registration = registered_input(one, folders.of(use_case.name), tag_the_run=False)
    return publish_file_scores(one, use_case, ScoringConfig(), folders, registration, model)


def shadow_events(
    shadow: OneFileOfBatch,
    use_case: UseCase,
    folders: ScoringFolders,
    challenger: tuple[LoadedModel | None, str | None],
) -> Iterator[dg.AssetMaterialization]:
    """The file's shadow scores while a challenger exists (or why not, when it is unusable), as the asset gives them."""
    model, unusable = challenger
    if unusable:
        record_unusable_challenger(shadow, use_case, unusable)
    elif model is not None:
        yield from partition_events(shadow, iter([shadow_score_partition(shadow, use_case, folders, model)]))


def file_failure(context: dg.OpExecutionContext, key: str, error: Exception) -> str:
    """One line on why a file was not re-scored; a crash (not a refusal) is logged with its traceback."""
    if isinstance(error, dg.Failure):
        return error.description or "refused"
    context.log.exception(f"re-scoring {key} failed")
    return f"{type(error).__name__}: {error}"


def partition_events(
    one: OneFileOfBatch, results: Iterator[dg.MaterializeResult | dg.AssetCheckResult]
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """The per-file step's results as events of its partition, each check pointing at the materialization it judged.

    Each materialization is yielded (so stored) before its checks are built, so their target is found.
    """
    for result in results:
        if isinstance(result, dg.MaterializeResult):
            yield dg.AssetMaterialization(
                asset_key=result.asset_key,
                partition=one.partition_key,
                metadata=result.metadata,
                tags=provenance_tags(one, result.asset_key),
            )
            one.materialized(result.asset_key)
            checks = list(result.check_results or [])
        else:
            checks = [result]
        yield from (check_evaluation(one, check) for check in checks)


def provenance_tags(one: OneFileOfBatch, asset_key: dg.AssetKey) -> dict[str, str]:
    """The data-version tags Dagster gives a materialization of ``asset_key`` in an asset job, for this partition.

    Code version, each upstream's data version and event, and the data version they hash to: so the
    UI's stale/fresh status, and the model sensors reading the model's md5, see a batch-scored file
    exactly as one scored by a run of its own.
    """
    spec = next(spec for spec in one.assets_def.specs if spec.key == asset_key)
    code_version = spec.code_version or CODE_VERSION
    tags, inputs = {CODE_VERSION_TAG: code_version}, {}
    for dep in spec.deps:
        record, version = input_data_version(one, dep.asset_key)
        if version is None:
            continue
        inputs[dep.asset_key] = version
        tags[get_input_data_version_tag(dep.asset_key)] = version.value
        tags[get_input_event_pointer_tag(dep.asset_key)] = str(record.storage_id)
    tags[DATA_VERSION_TAG] = compute_logical_data_version(code_version, inputs).value
    return tags


def input_data_version(one: OneFileOfBatch, dep: dg.AssetKey) -> tuple[object, dg.DataVersion | None]:
    """An upstream's latest record and its data version as Dagster's step records it for this partition.

    A partitioned upstream of another step counts as the hash of its partitions' data versions
    (here the one partition); one written by the same step, or an unpartitioned one (the model), as its own.
    """
    record = one.latest_record(dep)
    if record is None:
        record = one.unpartitioned_record(dep)
        return record, extract_data_version_from_entry(record.event_log_entry) if record else None
    version = extract_data_version_from_entry(record.event_log_entry)
    if version is None or dep in one.assets_def.keys:
        return record, version
    return record, dg.DataVersion(hashlib.sha256(version.value.encode("utf-8")).hexdigest())


def check_evaluation(one: OneFileOfBatch, check: dg.AssetCheckResult) -> dg.AssetCheckEvaluation:
    """``check`` as Dagster records an AssetCheckResult of a partitioned step, for this file's partition."""
    blocking = any(
        spec.blocking
        for spec in one.assets_def.check_specs
        if (spec.asset_key, spec.name) == (check.asset_key, check.check_name)
    )
    latest = one.latest_record(check.asset_key)
    target = (
        AssetCheckEvaluationTargetMaterializationData(
            run_id=latest.run_id, storage_id=latest.storage_id, timestamp=latest.timestamp
        )
        if latest is not None and latest.asset_materialization is not None
        else None
    )
    return dg.AssetCheckEvaluation(
        asset_key=check.asset_key,
        check_name=check.check_name,
        passed=check.passed,
        metadata=check.metadata,
        target_materialization_data=target,
        severity=check.severity,
        description=check.description,
        blocking=blocking,
        partition=one.partition_key,
    )


def finish_batch(
    context: dg.OpExecutionContext, use_case: UseCase, partitions: list[str], refused: dict[str, str]
) -> None:
    """Log how the batch went; fail the step, after every file had its turn, if any file was refused."""
    done = len(partitions) - len(refused)
    context.log.info(f"{use_case.name}: {done} of {len(partitions)} file(s) re-scored in this run")
    if refused:
        lines = "; ".join(f"{key}: {reason}" for key, reason in refused.items())
        raise dg.Failure(
            description=f"{len(refused)} of {len(partitions)} file(s) not re-scored ({done} were): {lines}",
            metadata={"refused": dg.MetadataValue.json(refused), "rescored": done},
            allow_retries=False,
        )


def in_batches(partitions: list[str], max_partitions_per_run: int) -> list[list[str]]:
    """The partitions, in order, cut into runs of at most ``max_partitions_per_run`` files."""
    size = max(1, max_partitions_per_run)
    return [partitions[start : start + size] for start in range(0, len(partitions), size)]


def batch_run_config(use_case: UseCase, partitions: list[str], loggers: dict | None = None) -> dg.RunConfig:
    return dg.RunConfig(
        ops={keys_of(use_case).rescore_files_op: RescoreBatchConfig(partitions=partitions)}, loggers=loggers or {}
    )


def batch_run_requests(
    use_case: UseCase, partitions: list[str], max_partitions_per_run: int, why: str, tags: dict[str, str]
) -> list[dg.RunRequest]:
    """One batch run request per slice of ``partitions``; ``why`` (e.g. the model's md5) keeps run keys apart.

    The run key hashes the slice, so the same files for the same reason are never requested twice.
    """
    return [
        dg.RunRequest(
            run_key=f"batch-{hashlib.sha256(chr(10).join(batch).encode()).hexdigest()[:16]}@{why}",
            run_config=batch_run_config(use_case, batch),
            tags={**tags, BATCH_FILES: str(len(batch))},
        )
        for batch in in_batches(partitions, max_partitions_per_run)
    ]
