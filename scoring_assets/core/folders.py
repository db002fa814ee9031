"""The working folders of one use case: where every file of a partition lives.

Assets hand each other files, not DataFrames (big inputs stream through in record batches),
so this is the one place that knows the layout under the data folder (``$SCORING_DATA_DIR``)::

    inbox/<use case>/                      files waiting to be scored as that use case
    lake/<use case>/inputs/<key>.json      registration: which source file a partition stands for
    lake/<use case>/<asset>/<key>.parquet  intermediate assets
    lake/<use case>/locks/<key>.lock       taken by a run while it scores and publishes the file
    lake/<use case>/checks/<key>.jsonl     every check result of every run of the file, with its description
    lake/<use case>/environments/<sha256>.txt  the installed packages a file was scored with (its manifest names it)
    lake/<use case>/environments/by_metadata_folders/<sha256>.txt  which list the packages' metadata folders gave
    lake/<use case>/retired.jsonl          every retired file: what, when, by whom, why, where its files went
    lake/<use case>/inputs/retired/<key>.json  the content a retired key stood for (a key never changes content)
    archive/<use case>/retired/<key>/      a retired file's outputs, one folder per retirement
    lake/<use case>/pruned.jsonl           every file pruned from Dagster (retention): what Dagster held of it
    lake/<use case>/inputs/pruned/<key>.json  a pruned file's record: its content is still known, never re-scored
    rejected/<use case>/<key>.csv          reject report
    scored/<use case>/<key>.csv            handoff file, with <key>.manifest.json beside it
    monitoring/<use case>/trend.html       the trend of the recent scored files
    inbox/<use case>/outcomes/, lake/<use case>/outcomes/..., rejected/<use case>/outcomes/
                                           what really happened to scored rows (``outcomes``)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from scoring_assets.core.files import exclusive_lock, file_sha256, write_text_atomically
from scoring_assets.core.partition_keys import PartitionKeyError, checked_partition_key, partition_key_for


@dataclass(frozen=True)
class UseCaseFolders:
    """Paths of one use case's working folders under the data folder ``root``."""

    root: Path
    use_case: str

    @property
    def inbox(self) -> Path:
        return self.root / "inbox" / self.use_case

    @property
    def outcomes(self) -> UseCaseFolders:
        """This use case's outcomes files' folders, laid out as a use case's own under ``<use case>/outcomes``.

        So an outcomes file is registered, recognised by content and reported on exactly as an input file is.
        """
        return UseCaseFolders(self.root, f"{self.use_case}/outcomes")

    def lake_file(self, asset: str, partition_key: str, suffix: str = ".parquet") -> Path:
        return self.root / "lake" / self.use_case / asset / f"{checked_partition_key(partition_key)}{suffix}"

    def check_results(self, partition_key: str) -> Path:
        """One JSON line per step that evaluated checks on the file (``core.check_results``), oldest first."""
        return self.lake_file("checks", partition_key, ".jsonl")

    @property
    def environments(self) -> Path:
        return self.root / "lake" / self.use_case / "environments"

    def registration_file(self, partition_key: str) -> Path:
        return self.lake_file("inputs", partition_key, ".json")

    def reject_report(self, partition_key: str) -> Path:
        return self.root / "rejected" / self.use_case / f"{checked_partition_key(partition_key)}.csv"

    @property
    def scored_folder(self) -> Path:
        return self.root / "scored" / self.use_case

    def scored_file(self, partition_key: str) -> Path:
        return self.scored_folder / f"{checked_partition_key(partition_key)}.csv"

    @property
    def monitoring_report(self) -> Path:
        """The trend report of the recent scored files, rewritten by the monitoring asset."""
        return self.root / "monitoring" / self.use_case / "trend.html"

    def model_change_report(self, challenger_md5: str) -> Path:
        """The promotion gate's model change impact report on one challenger (champion -> challenger)."""
        return self.root / "monitoring" / self.use_case / f"model_change_{challenger_md5[:12]}.html"

    @contextmanager
    def one_run_at_a_time(self, partition_key: str) -> Iterator[None]:
        """Hold the partition's lock for the block: runs of one file (CLI, sensor, UI, in any process) take turns.

        What a run publishes is moved aside by the next run of the same file: without turns, one
        run could move the other's scored file away between its writing and its checking it. The
        lock file (``lake/<use case>/locks/<key>.lock``, empty) stays; ``files.exclusive_lock``.
        """
        lock_file = self.lake_file("locks", partition_key, ".lock")
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(lock_file):
            yield

    def write_stage_summary(self, asset: str, partition_key: str, summary: dict) -> None:
        """Facts a later step needs about this one (counts, paths, hashes), beside its file."""
        text = json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"
        write_text_atomically(self.lake_file(asset, partition_key, ".json"), text)

    def read_stage_summary(self, asset: str, partition_key: str) -> dict:
        path = self.lake_file(asset, partition_key, ".json")
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: materialize {asset} for partition {partition_key} first")
        return json.loads(path.read_text(encoding="utf-8"))

    @property
    def retired_ledger(self) -> Path:
        """``retired.jsonl``: one JSON line per retired file (``core.retirement``)."""
        return self.root / "lake" / self.use_case / "retired.jsonl"

    def retired_key_record(self, partition_key: str) -> Path:
        """The registration a retired key had: its content is the only content that key may stand for again."""
        return self.lake_file("inputs/retired", partition_key, ".json")

    def retirement_archive(self, partition_key: str) -> Path:
        """Where a retired file's outputs are kept, one folder per retirement below it."""
        return self.root / "archive" / self.use_case / "retired" / checked_partition_key(partition_key)

    @property
    def pruned_ledger(self) -> Path:
        """``pruned.jsonl``: one JSON line per file pruned from Dagster (``core.retention``)."""
        return self.root / "lake" / self.use_case / "pruned.jsonl"

    def pruned_record(self, partition_key: str) -> Path:
        """What Dagster held of a pruned file (runs, model, scored file), kept once its partition is gone."""
        return self.lake_file("inputs/pruned", partition_key, ".json")

    def pruned_partition_for_content(self, sha256: str) -> str | None:
        """The pruned partition these exact bytes were scored as, if any: a copy delivered again is a duplicate."""
        key = self.partition_for_content(sha256)
        return key if key is not None and self.pruned_record(key).exists() else None

    def content_record(self, sha256: str) -> Path:
        """Marker of content already registered: how a re-delivered copy is recognised."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / "lake" / self.use_case / "inputs" / "by_content" / f"{sha256}.json"

    def partition_for_content(self, sha256: str) -> str | None:
        """The partition that already holds these exact bytes, if any (whatever the file name)."""
        record = self.content_record(sha256)
        return json.loads(record.read_text(encoding="utf-8"))["partition_key"] if record.exists() else None

    def registration_for(self, source: Path, sha256: str | None = None) -> InputRegistration:
        """The registration ``source`` would get (partition key, sha256...), without recording anything.

        ``sha256`` may be passed when the caller has just hashed the file.
        """
        source = Path(source).resolve()
        sha256 = sha256 or file_sha256(source)
        return InputRegistration(
            partition_key=partition_key_for(source.name, sha256),
            source_path=str(source),
            sha256=sha256,
            bytes=source.stat().st_size,
        )

    def register_input(self, source: Path, sha256: str | None = None) -> InputRegistration:
        """Record which file a partition stands for; returns the registration (key, sha256...).

        ``sha256`` may be passed when the caller has just hashed the file.
        """
        registration = self.registration_for(source, sha256)
        self._refuse_retired_key_for_other_content(registration)
        text = json.dumps(registration.as_dict(), indent=2, sort_keys=True) + "\n"
        write_text_atomically(self.registration_file(registration.partition_key), text)
        # Registered again by hand after pruning: a partition again (its pruning stays in pruned.jsonl).
        self.pruned_record(registration.partition_key).unlink(missing_ok=True)
        if not self.content_record(registration.sha256).exists():
            write_text_atomically(self.content_record(registration.sha256), text)
        return registration

    def _refuse_retired_key_for_other_content(self, registration: InputRegistration) -> None:
        """A retired key may come back only for the bytes it stood for (its name and lineage say so)."""
        record = self.retired_key_record(registration.partition_key)
        if record.exists() and json.loads(record.read_text(encoding="utf-8"))["sha256"] != registration.sha256:
            raise PartitionKeyError(
                f"partition key {registration.partition_key!r} was retired for other content (see {record}); "
                f"rename {Path(registration.source_path).name} to register it"
            )

    def registered_input(self, partition_key: str) -> InputRegistration:
        record = self.registration_file(partition_key)
        if not record.exists():
            raise FileNotFoundError(
                f"partition {partition_key!r} has no registered input file ({record} is missing); "
                "register files with the inbox sensor or `scoring-assets score`"
            )
        return InputRegistration(**json.loads(record.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class InputRegistration:
    """The source file behind a partition, with the sha256 it had when it was registered."""

    partition_key: str
    source_path: str
    sha256: str
    bytes: int
    registered_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict:
        return asdict(self)
