"""Evidence bundles in Dagster: ``evidence_bundle`` (the CLI's and the UI's one path) and the evidence job.

The bundle itself is ``core.evidence``; here the use case's folders and served model come from
the resources, and ``<use case>__evidence`` lets a person build one from the UI (run config: the
file's partition key and a folder that does not exist yet). The job reads only what the product
keeps (lake, manifest, files, DVC), so it works for a file whose runs Dagster no longer holds.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from scoring_assets.builders.keys import keys_of
from scoring_assets.builders.resources import ModelStore, ScoringFolders
from scoring_assets.core.evidence import (
    EvidenceError,
    EvidenceMismatch,
    EvidenceSources,
    build_evidence,
    scored_file_of,
)
from scoring_assets.core.model_store import ModelIntegrityError
from scoring_assets.core.use_case import UseCase


class EvidenceConfig(dg.Config):
    partition_key: str  # the scored file's partition, as the partitions list shows it (<name>-<8 hex>)
    out: str  # the bundle's folder: must not exist yet


def evidence_bundle(
    use_case: UseCase, folders: ScoringFolders, model_store: ModelStore, scored_file: Path, out: Path
) -> dict[str, Any]:
    """Build the bundle of ``scored_file`` into ``out`` (``core.evidence.build_evidence``); returns its record."""
    try:
        served = model_store.verify(use_case)
    except ModelIntegrityError:
        served = None  # whether the file's model is still the champion cannot be told; the rest can
    sources = EvidenceSources(scored_file, use_case, folders.of(use_case.name), model_store.root_of(use_case), served)
    return build_evidence(sources, out)


def build_evidence_job(use_case: UseCase) -> dg.JobDefinition:
    """``<use case>__evidence``: one scored file's evidence bundle, from the UI."""
    keys = keys_of(use_case)

    @dg.op(
        name=keys.evidence_op,
        description=f"Write the evidence bundle of one scored {use_case.name} file into a new folder, every hash "
        "re-checked.",
    )
    def write_evidence_bundle(
        context: dg.OpExecutionContext, config: EvidenceConfig, folders: ScoringFolders, model_store: ModelStore
    ):
        out = Path(config.out).expanduser().resolve()
        try:
            scored = scored_file_of(folders.of(use_case.name), config.partition_key)
            record = evidence_bundle(use_case, folders, model_store, scored, out)
        except (EvidenceError, EvidenceMismatch) as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        context.log.info(f"evidence bundle of {scored} written to {out}")
        return dg.Output(
            None,
            metadata={
                "bundle": dg.MetadataValue.path(str(out)),
                "index": dg.MetadataValue.path(str(out / "index.html")),
                "scored_file": dg.MetadataValue.path(str(scored)),
                "items": len(record["items"]),
                "still_the_champion": str(record["model"]["still_the_champion"]),
            },
        )

    @dg.job(name=keys.evidence_job, executor_def=dg.in_process_executor, description=write_evidence_bundle.description)
    def evidence_job() -> None:
        write_evidence_bundle()

    return evidence_job
