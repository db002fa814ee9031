"""Clone a template's run straight into the instance's tables: 100,000 files in minutes, not hours.

``bench/years_fill.py`` stores each clone's run and events through the instance's API, which is
Dagster's write path: ~0.5 CPU-s a file on SQLite (a new engine and commit per event) and ~3
files/s on PostgreSQL, so 100,000 files take 9-14 hours. This writes the same rows with one
``INSERT ... SELECT`` per table per chunk of clones: the template run's rows (runs, run tags,
events, asset event tags, check executions) read back from the tables they are in and written
once per clone, each text column with the clone's sha256, file token and run id substituted in
SQL (``replace``), as ``years_fill.substituted`` does in Python. Event storage ids keep the
template's gaps and order (clone ``k``'s events come after clone ``k - 1``'s); the tags and check
executions that point at an event point at the clone's own. SQLite's per-run event files are
copies of the template's, rewritten in place. Partitions still go through the instance's API.

What this does not redo: a check evaluation's event body still names the template's
materialization storage id (as with the API fill), and every clone keeps the template's
timestamps. ``asset_keys`` (one row per asset: its latest materialization) is set to the last
clone's, as the instance would leave it.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

# Tables whose rows belong to one run, and how a template's rows are found in each.
RUN_ROWS = {
    "runs": "t.run_id = :template_run",
    "run_tags": "t.run_id = :template_run",
    "event_logs": "t.run_id = :template_run",
    "asset_check_executions": "t.run_id = :template_run",
    "asset_event_tags": "t.event_id IN (SELECT id FROM event_logs WHERE run_id = :template_run)",
}
# Columns that hold an event_logs id: renumbered like the events they point at.
EVENT_REFERENCES = {
    "event_logs": ("id",),
    "asset_event_tags": ("event_id",),
    "asset_check_executions": ("evaluation_event_storage_id", "materialization_event_storage_id"),
}
CLONES = "yof_clones"  # a temporary table: (k, sha, token, run_id) of the chunk's clones


@dataclass(frozen=True)
class EventSpan:
    """Where clone ``k``'s events go: id = base + k * stride + (template id - low)."""

    base: int
    low: int
    stride: int

    def bind(self) -> dict[str, int]:
        return {"span_base": self.base, "span_low": self.low, "span_stride": self.stride}


def text_columns_replaced(column: str) -> str:
    """SQL for a text column with the clone's sha256, token and run id in (the order of ``substitutions``)."""
    inner = f"replace(t.{column}, :template_sha, c.sha)"
    inner = f"replace({inner}, :template_token, c.token)"
    return f"replace({inner}, :template_run, c.run_id)"


def renumbered(column: str) -> str:
    return f"CASE WHEN t.{column} IS NULL THEN NULL ELSE :span_base + c.k * :span_stride + (t.{column} - :span_low) END"


def select_list(engine: sa.Engine, table: str) -> tuple[list[str], list[str]]:
    """The columns an INSERT of clones names, and the SQL that makes each from the template's row."""
    names, expressions = [], []
    for column in sa.inspect(engine).get_columns(table):
        name = column["name"]
        quoted = f'"{name}"'
        if name in EVENT_REFERENCES.get(table, ()):
            expression = renumbered(quoted)
        elif name == "id":
            continue  # the table numbers its own rows
        elif isinstance(column["type"], sa.String):
            expression = text_columns_replaced(quoted)
        else:
            expression = f"t.{quoted}"
        names.append(quoted)
        expressions.append(expression)
    return names, expressions


def template_span(connection: sa.Connection, template_run: str) -> EventSpan:
    """The next free event id, and the span of the template's event ids (its clones keep its gaps)."""
    low, high = connection.execute(
        sa.text("SELECT min(id), max(id) FROM event_logs WHERE run_id = :run"), {"run": template_run}
    ).one()
    (top,) = connection.execute(sa.text("SELECT max(id) FROM event_logs")).one()
    return EventSpan(top + 1, low, high - low + 1)


def load_clones(connection: sa.Connection, clones: list[tuple[str, str, str]]) -> None:
    """The chunk's (sha256, token, run id) as the temporary table the INSERTs join with."""
    connection.execute(sa.text(f"DROP TABLE IF EXISTS {CLONES}"))
    connection.execute(sa.text(f"CREATE TEMPORARY TABLE {CLONES} (k INTEGER, sha TEXT, token TEXT, run_id TEXT)"))
    rows = [{"k": k, "sha": sha, "token": token, "run_id": run} for k, (sha, token, run) in enumerate(clones)]
    connection.execute(sa.text(f"INSERT INTO {CLONES} VALUES (:k, :sha, :token, :run_id)"), rows)


def insert_clones(engine: sa.Engine, table: str) -> sa.TextClause:
    """The INSERT that copies the template's rows of ``table`` once per clone (columns reflected once)."""
    names, expressions = select_list(engine, table)
    return sa.text(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(expressions)} "
        f"FROM {table} t CROSS JOIN {CLONES} c WHERE {RUN_ROWS[table]} "
        "ORDER BY c.k, t.id"
    )


class TableCloner:
    """Writes clones of one template run into one database (SQLite's runs or index file, or PostgreSQL)."""

    def __init__(self, engine: sa.Engine, template: dict[str, str]):
        self.engine, self.template = engine, template  # template: template_sha, template_token, template_run
        self.tables = [table for table in RUN_ROWS if sa.inspect(engine).has_table(table)]
        self.inserts = {table: insert_clones(engine, table) for table in self.tables}
        self.postgres = engine.dialect.name == "postgresql"

    def clone(self, clones: list[tuple[str, str, str]]) -> None:
        """One transaction: every run-owned table gets the template's rows once per clone."""
        with self.engine.begin() as connection:
            load_clones(connection, clones)
            bound = dict(self.template)
            if "event_logs" in self.tables:
                bound |= template_span(connection, self.template["template_run"]).bind()
            for table in self.tables:
                connection.execute(self.inserts[table], bound)
            if self.postgres and "event_logs" in self.tables:
                connection.execute(
                    sa.text(
                        "SELECT setval(pg_get_serial_sequence('event_logs', 'id'), (SELECT max(id) FROM event_logs))"
                    )
                )

    def latest_asset_rows(self) -> list[dict]:
        """The ``asset_keys`` rows the template's run left as latest (to point at the last clone later)."""
        if not sa.inspect(self.engine).has_table("asset_keys"):
            return []
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT * FROM asset_keys WHERE last_run_id = :run"), {"run": self.template["template_run"]}
            )
            return [dict(row._mapping) for row in rows]

    def point_assets_at(self, rows: list[dict], substitute) -> None:
        """Each of those assets' latest materialization: the last clone's (its text with that clone's ids)."""
        with self.engine.begin() as connection:
            for row in rows:
                texts = {name: substitute(value) for name, value in row.items() if isinstance(value, str)}
                texts.pop("asset_key")
                assignments = ", ".join(f"{name} = :{name}" for name in texts)
                connection.execute(
                    sa.text(f"UPDATE asset_keys SET {assignments} WHERE asset_key = :asset_key"),
                    {**texts, "asset_key": row["asset_key"]},
                )


def checkpointed(shard: Path) -> Path:
    """A SQLite run file with its write-ahead log folded in, so copying the file copies every event."""
    with sqlite3.connect(shard) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return shard


def clone_run_file(template_file: Path, template: dict[str, str], clone: tuple[str, str, str]) -> None:
    """SQLite's per-run event file for one clone: the template's, copied, its rows rewritten in place."""
    sha, token, run_id = clone
    target = template_file.with_name(f"{run_id}.db")
    shutil.copyfile(template_file, target)
    connection = sqlite3.connect(target)
    try:
        connection.execute("PRAGMA synchronous = OFF")
        columns = [
            row[1]
            for row in connection.execute("PRAGMA table_info(event_logs)")
            if "CHAR" in row[2] or row[2] == "TEXT"
        ]
        assignments = ", ".join(f"{name} = replace(replace(replace({name}, ?, ?), ?, ?), ?, ?)" for name in columns)
        values = [template["template_sha"], sha, template["template_token"], token, template["template_run"], run_id]
        connection.execute(f"UPDATE event_logs SET {assignments}", values * len(columns))
        connection.commit()
    finally:
        connection.close()
