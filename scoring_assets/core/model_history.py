"""The model history of a use case: one JSON line per lifecycle event, in git beside the model.

``model_history.jsonl`` is append-only: a challenger registered (``challenged``) or dropped
(``discarded``), a model promoted (``promoted``) or served again (``rolled_back``). Each record says
which model (``model_md5``, the model file's md5 as ``model_version`` shows it, and ``dir_md5``,
the DVC directory's), what it was trained on and scored, the gate's verdict, who (user and host),
when (UTC, ISO 8601) and why. The file is rewritten whole through a temporary (``core.files``),
so a process killed while writing leaves the previous history intact, never half a line.

Which champion a rollback returns to is read from it (``served_sequence``).
"""

from __future__ import annotations

import getpass
import json
import socket
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from scoring_assets.core.files import write_text_atomically
from scoring_assets.core.model_store import ModelIntegrityError

HISTORY_FILE = "model_history.jsonl"


class Event(StrEnum):
    CHALLENGED = "challenged"
    DISCARDED = "discarded"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


def who_and_when() -> dict[str, str]:
    """The ``who`` and ``when`` of a record: the user and host acting, and the time in UTC."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"who": f"{user}@{socket.gethostname()}", "when": datetime.now(UTC).isoformat(timespec="seconds")}


def read_history(path: Path) -> list[dict[str, Any]]:
    """The records, oldest first; none when the file does not exist. A damaged line is a ModelIntegrityError."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("event") not in set(Event):
            raise ModelIntegrityError(
                f"{path} line {number} is not a model history record; restore it with `git checkout {path.name}`"
            )
        records.append(record)
    return records


def append_record(path: Path, event: Event, **fields: Any) -> dict[str, Any]:
    """Add one record (``event``, the fields given, who and when) at the end of the history; returns it."""
    record = {"event": str(event), **fields, **who_and_when()}
    earlier = path.read_text(encoding="utf-8") if path.exists() else ""
    if earlier and not earlier.endswith("\n"):
        earlier += "\n"
    write_text_atomically(path, earlier + json.dumps(record, sort_keys=False) + "\n")
    return record


def served_sequence(records: list[dict[str, Any]]) -> list[str | None]:
    """The champions served one after the other, up to the latest: directory md5s, None for the dvc.lock champion.

    A promotion adds its model; a rollback to a model in the sequence goes back to it (dropping
    what came after), to any other earlier champion adds it: so rolling back twice walks back two steps.
    """
    sequence: list[str | None] = [None]
    for record in records:
        if record["event"] == Event.PROMOTED:
            sequence.append(record["dir_md5"])
        elif record["event"] == Event.ROLLED_BACK:
            target = record["dir_md5"]
            if target in sequence:
                del sequence[len(sequence) - sequence[::-1].index(target) :]
            else:
                sequence.append(target)
    return sequence


def training_set_line(training_set: dict | None) -> str:
    """One line on what a challenger was trained on: source, rows, md5 and, for production rows, when known."""
    if not training_set:
        return "(not recorded)"
    rows = training_set.get("rows")
    line = str(training_set.get("source", "?")) + (f", {rows:,} rows" if isinstance(rows, int) else "")
    line += f", md5 {str(training_set.get('md5', '?'))[:12]}"
    if training_set.get("date_range"):
        first, last = training_set["date_range"]
        line += f", labels known {first} to {last}"
    return line


def why_of(record: dict[str, Any]) -> str:
    """Why a history record happened: its reason, or for a challenger what it was trained on."""
    return record.get("why") or f"trained on {training_set_line(record.get('training_set'))}"
