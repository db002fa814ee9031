"""Deciding which files in the inbox are complete and new: the inbox sensor's rules.

A file is picked up only when all of these hold:
- its name is not hidden or temporary: it ends in ``.csv`` (any case) and does not start with
  ``.`` or ``~`` or end in ``.tmp``, ``.part``, ``.crdownload`` or ``.filepart``;
- its size and modification time are the same as at the previous sensor tick, and it was last
  modified at least ``settle_seconds`` ago (so a writer that pauses briefly is not caught
  half-way; writers that pause longer should write to a temporary name and rename);
- it is not empty (an empty file is a file not written yet);
- it has not been picked up before with this size and modification time.
The state is a small JSON document kept in the sensor's cursor, so it survives daemon
restarts; files that disappear from the inbox are forgotten, so it does not grow forever.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload", ".filepart")
Signature = tuple[int, int]  # (size in bytes, mtime in ns)


def is_candidate_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(".csv") and not name.startswith((".", "~")) and not lowered.endswith(TEMPORARY_SUFFIXES)


@dataclass
class InboxState:
    """Per file name: its signature at the last tick (``pending``) or when it was handled (``handled``)."""

    pending: dict[str, Signature] = field(default_factory=dict)
    handled: dict[str, Signature] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> InboxState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(
            pending={name: tuple(sig) for name, sig in data.get("pending", {}).items()},
            handled={name: tuple(sig) for name, sig in data.get("handled", {}).items()},
        )

    def to_cursor(self) -> str:
        return json.dumps({"pending": self.pending, "handled": self.handled}, sort_keys=True, separators=(",", ":"))

    def mark_handled(self, path: Path, signature: Signature) -> None:
        self.pending.pop(path.name, None)
        self.handled[path.name] = signature


def scan_inbox(inbox: Path, state: InboxState, now: float, settle_seconds: float) -> list[tuple[Path, Signature]]:
    """Files that are complete and not yet handled, oldest first; updates ``state.pending``.

    One ``os.scandir`` and no file reads: cheap with thousands of files in the inbox.
    """
    if not inbox.is_dir():
        return []
    ready: list[tuple[float, Path, Signature]] = []
    pending: dict[str, Signature] = {}
    present: set[str] = set()
    with os.scandir(inbox) as entries:
        for entry in entries:
            if not is_candidate_name(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            signature: Signature = (stat.st_size, stat.st_mtime_ns)
            present.add(entry.name)
            if state.handled.get(entry.name) == signature:
                continue
            settled = now - stat.st_mtime_ns / 1e9 >= settle_seconds
            if state.pending.get(entry.name) == signature and settled and stat.st_size > 0:
                ready.append((stat.st_mtime_ns, Path(entry.path), signature))
            pending[entry.name] = signature
    state.pending = pending
    state.handled = {name: sig for name, sig in state.handled.items() if name in present}
    return [(path, signature) for _, path, signature in sorted(ready, key=lambda item: (item[0], item[1].name))]


def signature_of(path: Path) -> Signature:
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)
