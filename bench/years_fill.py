"""Years of scored files in a fresh instance and data folder, in minutes: one real run per use case, cloned.

``bench/years_of_files.py`` fills with this. Scoring N files for real would take N x ~3.5 s, so
each use case's template file is scored once by the real job (``scoring-assets score``, as a
subprocess), and what that run left behind is cloned per new file with its file name, partition
key, sha256 and run id substituted:

- the data folder: every file whose path names the template's partition key or sha256 (its
  registration and content record, lake files and stage summaries, check log, lock, scored CSV,
  manifest, drift report). Text files get the substitutions; Parquet files are copied as they are;
- the instance: the dynamic partitions (``add_dynamic_partitions``, in bulk), one run record per
  file (``add_run``, its start and success applied with ``handle_run_event`` as the instance
  does), and every event that run wrote (materializations with their metadata, check
  evaluations with their partition, planned events, steps, logs), stored with
  ``store_event_batch`` or one ``store_event`` at a time (``--store``);
- the inbox: each file's input stays in ``inbox/<use case>/`` (the product never moves an
  input), as a hard link to the template's, and the inbox sensor's cursor knows it as decided.

A clone's sha256 keeps the template's first 8 hex digits (so its key is ``<stem>-<8 hex>`` as
the product makes it) and is otherwise made up: the input bytes behind a cloned file are the
template's, so only a re-hash of the input (the evidence bundle) would notice. The scored file is
byte for byte the template's, so its manifest's sha256 holds and ``lineage`` passes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRun, EventLogEntry, RunsFilter
from dagster._serdes import deserialize_value, serialize_value

from scoring_assets.builders.keys import keys_of
from scoring_assets.core.inbox import InboxState, signature_of

TOKEN = "yof000000"  # the template's stem starts with it; clone i's with f"yof{i:06d}"
RUN_STATUS_EVENTS = {DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS}
# What the sensors, the CLI and the UI read about a scored file: its runs' status and its assets' events.
ASSET_EVENTS = RUN_STATUS_EVENTS | {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
}
PARTITIONS_PER_CALL = 1000


def cli_path() -> str:
    return str(Path(sys.executable).with_name("scoring-assets"))


def write_extract(use_case_name: str, path: Path, rows: int, seed: int) -> Path:
    """A fresh unlabelled extract from the use case's own generator."""
    generator = importlib.import_module(f"scoring_assets.use_cases.{use_case_name}.generate")
    path.parent.mkdir(parents=True, exist_ok=True)
    return generator.write_extract(path, rows, seed=seed, labelled=False)


@dataclass
class Template:
    """One use case's really scored file: what its run wrote, serialized once, ready to be cloned."""

    use_case: str
    source: Path
    partition_key: str
    sha256: str
    run_id: str
    run_json: str
    events_json: list[str]
    data_files: list[tuple[str, bytes, bool]]  # (path under the data folder, content, is text)

    def bound(self) -> dict[str, str]:
        """What ``years_sql`` replaces in the template's rows (``substitutions``' left-hand sides, named)."""
        return {"template_sha": self.sha256, "template_token": TOKEN, "template_run": self.run_id}

    def substitutions(self, index: int) -> list[tuple[str, str]]:
        digest = hashlib.sha256(f"{self.use_case}:{index}".encode()).hexdigest()
        sha256 = self.sha256[:8] + digest[:56]
        return [(self.sha256, sha256), (TOKEN, f"yof{index:06d}"), (self.run_id, str(uuid.uuid4()))]


def substituted(text: str, substitutions: list[tuple[str, str]]) -> str:
    for old, new in substitutions:
        text = text.replace(old, new)
    return text


def score_template(use_case_name: str, data_dir: Path, env: dict[str, str]) -> Path:
    """Score the use case's template file with the real CLI; it sits in the use case's inbox folder."""
    source = write_extract(use_case_name, data_dir / "inbox" / use_case_name / f"{TOKEN}_{use_case_name}.csv", 100, 1)
    command = [cli_path(), "score", str(source), "--use-case", use_case_name]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return source


def read_template(
    instance: DagsterInstance, use_case_name: str, source: Path, data_dir: Path, every_event: bool = True
) -> Template:
    """What the template's run left in the instance and the data folder (its asset and run events only, or all)."""
    registration = json.loads(
        next((data_dir / "lake" / use_case_name / "inputs").glob(f"{TOKEN}_*.json")).read_text(encoding="utf-8")
    )
    key, sha256 = registration["partition_key"], registration["sha256"]
    run = instance.get_runs(RunsFilter(tags={"dagster/partition": key}), limit=1)[0]
    records = instance.get_records_for_run(run.run_id, limit=100_000).records
    data_files = []
    for path in sorted(data_dir.rglob("*")):
        relative = str(path.relative_to(data_dir))
        if path.is_file() and (key in relative or sha256 in relative) and not relative.startswith("inbox/"):
            content = path.read_bytes()
            data_files.append((relative, content, path.suffix in {".json", ".jsonl", ".csv", ".html", ".txt"}))
    return Template(
        use_case_name,
        source,
        key,
        sha256,
        run.run_id,
        serialize_value(run),
        [
            serialize_value(record.event_log_entry)
            for record in records
            if every_event or record.event_log_entry.dagster_event_type in ASSET_EVENTS
        ],
        data_files,
    )


@dataclass
class FillStats:
    """Where the fill's time went, per part (wall seconds)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + seconds


def clone_data_files(template: Template, data_dir: Path, substitutions: list[tuple[str, str]]) -> None:
    """The template's data files under the clone's names: rewritten where their text names the file, else hard links.

    A Parquet file or a scored CSV is byte for byte the template's, so a link costs no disk and no
    write (``bench/years_of_files.py`` counts a linked file's bytes once per link); the input too.
    """
    for relative, content, is_text in template.data_files:
        path = data_dir / substituted(relative, substitutions)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = substituted(content.decode("utf-8"), substitutions).encode("utf-8") if is_text else content
        if text == content:
            os.link(data_dir / relative, path)
        else:
            path.write_bytes(text)
    os.link(template.source, template.source.with_name(substituted(template.source.name, substitutions)))


def cloned_run(template: Template, substitutions: list[tuple[str, str]]):
    """The clone's run record and its events, in the order the template's run wrote them."""
    run = deserialize_value(substituted(template.run_json, substitutions), DagsterRun)
    events = [deserialize_value(substituted(text, substitutions), EventLogEntry) for text in template.events_json]
    return run, events


def store_clones(instance: DagsterInstance, template: Template, substitution_lists: list, batched: bool) -> None:
    """Runs and events of many clones: every event in order, or materializations batched per asset."""
    storage, held_back = instance.event_log_storage, {}
    for substitutions in substitution_lists:
        run, events = cloned_run(template, substitutions)
        instance.add_run(run)
        for event in events:
            event_type = event.dagster_event_type
            if batched and event_type == DagsterEventType.ASSET_MATERIALIZATION:
                held_back.setdefault(event.dagster_event.asset_key, []).append(event)
            else:
                storage.store_event(event)
            if event_type in RUN_STATUS_EVENTS:
                instance.run_storage.handle_run_event(run.run_id, event.dagster_event, event_timestamp(event))
    for batch in held_back.values():
        storage.store_event_batch(batch)


def event_timestamp(event: EventLogEntry):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(event.timestamp, UTC)


def add_partitions(instance: DagsterInstance, template: Template, substitution_lists: list) -> None:
    """The clones' partitions, ``PARTITIONS_PER_CALL`` at a time, as the inbox sensor adds them."""
    keys = [substituted(template.partition_key, substitutions) for substitutions in substitution_lists]
    for start in range(0, len(keys), PARTITIONS_PER_CALL):
        instance.add_dynamic_partitions(
            keys_of(template.use_case).partitions, keys[start : start + PARTITIONS_PER_CALL]
        )


def inbox_cursor(inbox: Path) -> str:
    """The inbox sensor's cursor after it decided every file now in ``inbox`` (as the product keeps it)."""
    state = InboxState()
    for entry in os.scandir(inbox):
        if entry.is_file() and entry.name.endswith(".csv"):
            state.mark_handled(Path(entry.path), signature_of(Path(entry.path)))
    return state.to_cursor()


def grow(instance: DagsterInstance, templates: list[Template], data_dir: Path, have: int, want: int, **options):
    """Clone the templates until ``want`` files are scored (they alternate between use cases); per part wall s.

    ``have`` counts the files already there (the templates' included). Clones go in chunks of
    ``chunk`` files: their data files, their partitions, then their runs and events, written with
    ``store``: ``sql`` (``years_sql``, the default), ``batch`` or ``event`` (the instance's API).
    """
    chunk, store, stats = options.get("chunk", 500), options.get("store", "sql"), FillStats()
    writer = SqlWriter(instance, templates) if store == "sql" else None
    store_runs = writer.store if writer else partial(store_clones, instance, batched=store == "batch")
    for start in range(have, want, chunk):
        indices = range(start, min(start + chunk, want))
        for template in templates:
            mine = [template.substitutions(index) for index in indices if templates[index % len(templates)] is template]
            if mine:
                clone_chunk(instance, template, data_dir, mine, store_runs, stats)
    if writer is not None:
        writer.point_assets_at_last_clones()
    return stats


def clone_chunk(instance, template: Template, data_dir: Path, substitution_lists: list, store_runs, stats) -> None:
    """One chunk of clones of ``template``: data files, partitions, then runs and events (``store_runs``), timed."""
    import time

    started = time.perf_counter()
    for substitutions in substitution_lists:
        clone_data_files(template, data_dir, substitutions)
    stats.add("data_files", time.perf_counter() - started)
    started = time.perf_counter()
    add_partitions(instance, template, substitution_lists)
    stats.add("partitions", time.perf_counter() - started)
    started = time.perf_counter()
    store_runs(template, substitution_lists)
    stats.add("runs_and_events", time.perf_counter() - started)


class SqlWriter:
    """Runs and events of clones written straight into the instance's tables (``years_sql``), per template."""

    def __init__(self, instance: DagsterInstance, templates: list[Template]):
        import sqlalchemy as sa
        from years_sql import TableCloner, checkpointed

        events = instance.event_log_storage
        if hasattr(events, "postgres_url"):
            engines, self.run_files = [sa.create_engine(events.postgres_url)], None
        else:  # SQLite: runs in one file, asset and run-status events in the index file, each run's events in its own
            engines = [sa.create_engine(instance.run_storage._conn_string)]
            engines.append(sa.create_engine(events.conn_string_for_shard("index")))
            self.run_files = {t.run_id: checkpointed(Path(events.path_for_shard(t.run_id))) for t in templates}
        self.cloners = {t.run_id: [TableCloner(engine, t.bound()) for engine in engines] for t in templates}
        self.latest = {t.run_id: [cloner.latest_asset_rows() for cloner in self.cloners[t.run_id]] for t in templates}
        self.last_clone: dict[str, list[tuple[str, str]]] = {}

    def store(self, template: Template, substitution_lists: list) -> None:
        from years_sql import clone_run_file

        clones = [tuple(new for _, new in substitutions) for substitutions in substitution_lists]
        for cloner in self.cloners[template.run_id]:
            cloner.clone(clones)
        if self.run_files is not None:
            for clone in clones:
                clone_run_file(self.run_files[template.run_id], template.bound(), clone)
        self.last_clone[template.run_id] = substitution_lists[-1]

    def point_assets_at_last_clones(self) -> None:
        for run_id, substitutions in self.last_clone.items():
            for cloner, rows in zip(self.cloners[run_id], self.latest[run_id], strict=True):
                cloner.point_assets_at(rows, lambda text, subs=substitutions: substituted(text, subs))
