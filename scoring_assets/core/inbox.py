"""The fate of every file in the inbox: the inbox sensor's rules, and its memory of what it decided.

Names starting with ``.`` or ``~`` or ending in ``.tmp``, ``.part``, ``.crdownload`` or
``.filepart`` are files still being written (the atomic-rename convention): they are passed
over silently, as is the inbox's own ``README.md`` (committed so the folder exists in a clone).
Every other entry gets a decision once it has settled, i.e. its size and
modification time are the same as at the previous sighting and it was last modified at
least ``settle_seconds`` ago (so a writer that pauses briefly is not caught half-way). The
previous sighting is the previous tick; with a settle time of more than 0 and at most
``SECOND_SIGHTING_IN_TICK_SECONDS`` the tick itself looks again after ``settle_seconds``
(``second_sighting_wait``), since Dagster's sensor loop would otherwise stretch a 1 s settle to
its own 5 s. Both sightings are by this machine's clock, so a file growing on a share whose
clock lags is still caught:
- decided from its directory entry alone, without reading it: a folder, link or other
  non-regular entry is ``not a file``; a name that is not valid UTF-8 or holds control
  characters is an ``unreadable name`` (it could not be shown truly in the UI, tags or
  lineage: the file waits until renamed); any other name not ending in ``.csv`` is
  ``not a csv``; a 0-byte ``.csv`` is ``empty`` (it waits until it has content);
- decided by the sensor from its content: ``requested`` (a run for a new partition),
  ``duplicate`` (same bytes as an existing partition), ``another use case`` (in a use case's
  folder, a header that fits another use case and not this one: not registered here),
  ``waiting for model`` or ``cannot read`` (both retried every tick until they resolve).
A decision is made again only when the file changes. The state is a small JSON document kept
in the sensor's cursor, so it survives daemon restarts; files that disappear from the inbox
are forgotten, and only the latest ``RECENT_DECISIONS`` decisions are kept for the UI.
"""

from __future__ import annotations

import json
import os
import stat as stat_flags
import unicodedata
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload", ".filepart")
INBOX_README = "README.md"
RECENT_DECISIONS = 50
SECOND_SIGHTING_IN_TICK_SECONDS = 2.0  # longest wait inside one sensor tick; longer settles wait for the next tick
# Characters that reorder or hide text: a name holding them can show as another name.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
Signature = tuple[int, int]  # (size in bytes, mtime in ns)
FOLDER_SIGNATURE: Signature = (0, 0)  # a folder is decided once while it exists, whatever lands in it


class Decision(StrEnum):
    """What happened to a file: the words the inbox table, the tick log and skip reasons use."""

    REQUESTED = "requested"  # until its run has finished; then one of the three below
    SCORED = "scored"
    REFUSED = "refused"  # the run refused the file (unreadable, too many bad rows, ...): the reason says why
    FAILED = "failed"  # the run crashed or was cancelled: its run id says where to look
    DUPLICATE = "duplicate"
    EMPTY = "empty"
    UNREADABLE_NAME = "unreadable name"
    NOT_CSV = "not a csv"
    NOT_A_FILE = "not a file"
    WAITING_FOR_MODEL = "waiting for model"
    CANNOT_READ = "cannot read"
    NO_USE_CASE = "no use case"  # in the shared inbox: the header matches no use case's contract
    SEVERAL_USE_CASES = "several use cases"  # in the shared inbox: the header matches more than one
    OTHER_USE_CASE = "another use case"  # in a use case's folder: the header is another use case's, not registered


def is_being_written(name: str) -> bool:
    """Hidden or temporary names: where writers put files until they rename them into place."""
    return name.startswith((".", "~")) or name.lower().endswith(TEMPORARY_SUFFIXES)


def _is_unreadable_character(character: str) -> bool:
    return unicodedata.category(character) in ("Cc", "Cs") or character in BIDI_CONTROLS


def is_readable_name(name: str) -> bool:
    """Valid UTF-8 (no surrogate escapes from ``os.scandir``) and no control or bidi characters."""
    return not any(_is_unreadable_character(character) for character in name)


def printable_name(name: str) -> str:
    """``name`` with undecodable bytes shown as ``\\xNN`` and control characters as ``\\uNNNN``."""
    shown = []
    for character in name:
        if not _is_unreadable_character(character):
            shown.append(character)
        elif 0xDC80 <= ord(character) <= 0xDCFF:  # os.fsdecode's escape of one undecodable byte
            shown.append(f"\\x{ord(character) - 0xDC00:02x}")
        else:
            shown.append(f"\\u{ord(character):04x}")
    return "".join(shown)


def decision_without_reading(name: str, kind: str, size: int) -> tuple[str, str] | None:
    """(decision, reason) for an entry that cannot be scored as it is; None if its content decides.

    ``kind`` is "file", "folder", "symbolic link" or "special file".
    """
    if kind == "folder":
        return Decision.NOT_A_FILE, "a folder: files inside folders are not scanned; put them directly in the inbox"
    if kind == "symbolic link":
        return Decision.NOT_A_FILE, "a symbolic link: links are not followed; copy the file itself into the inbox"
    if kind != "file":
        return Decision.NOT_A_FILE, "not a regular file (pipe, socket or device): never read"
    if not is_readable_name(name):
        return Decision.UNREADABLE_NAME, (
            "the name is not valid UTF-8 or holds control characters, so it cannot be shown or recorded truly; "
            "rename the file"
        )
    if not name.lower().endswith(".csv"):
        return Decision.NOT_CSV, "only files named *.csv are scored; rename it if it is a CSV file"
    if size == 0:
        return Decision.EMPTY, "0 bytes, waits until it has content"
    return None


@dataclass(frozen=True)
class SettledEntry:
    """An inbox entry that has settled and not been decided in its current state."""

    path: Path
    signature: Signature
    verdict: tuple[str, str] | None  # (decision, reason) without reading it; None: the content decides

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class DecisionRecord:
    """One decision about one file, as the inbox table shows it."""

    name: str  # as the file system gave it (may hold surrogate escapes: see printable_name)
    signature: Signature
    decision: str
    reason: str
    decided_at: str  # ISO 8601, UTC
    sha256: str = ""
    partition: str = ""
    use_case: str = ""  # the use case it was routed to, when it was

    @property
    def summary(self) -> str:
        """One line for logs and skip reasons: ``dup.csv duplicate (partition dup-1a2b3c4d): same bytes ...``."""
        partition = f" (partition {self.partition})" if self.partition else ""
        return f"{printable_name(self.name)} {self.decision}{partition}: {self.reason}"


@dataclass
class InboxState:
    """Per file name: its signature at the last tick (``pending``) or when it was decided
    (``handled``); and the latest decisions, newest last (``recent``)."""

    pending: dict[str, Signature] = field(default_factory=dict)
    handled: dict[str, Signature] = field(default_factory=dict)
    recent: list[DecisionRecord] = field(default_factory=list)
    use_cases: str = ""  # fingerprint of the use cases the decisions were made with (``use_cases_changed``)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> InboxState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(
            pending={name: tuple(sig) for name, sig in data.get("pending", {}).items()},
            handled={name: tuple(sig) for name, sig in data.get("handled", {}).items()},
            recent=[
                DecisionRecord(**{**record, "signature": tuple(record["signature"])})
                for record in data.get("recent", [])
            ],
            use_cases=data.get("use_cases", ""),
        )

    def to_cursor(self) -> str:
        """JSON with non-ASCII escaped: names with surrogate escapes survive the round trip."""
        data = {
            "pending": self.pending,
            "handled": self.handled,
            "recent": [asdict(r) for r in self.recent],
            "use_cases": self.use_cases,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def use_cases_changed(self, fingerprint: str) -> list[str]:
        """Forget the decisions the use cases decided (no use case, several, another's) when they changed.

        So a file refused for fitting no use case is decided again once a use case it fits is
        loaded, without anyone touching it. Returns the names forgotten.
        """
        if fingerprint == self.use_cases:
            return []
        by_use_cases = {Decision.NO_USE_CASE, Decision.SEVERAL_USE_CASES, Decision.OTHER_USE_CASE}
        latest = {record.name: record for record in self.recent}
        forgotten = [
            name for name, record in latest.items() if record.decision in by_use_cases and name in self.handled
        ]
        for name in forgotten:
            del self.handled[name]
        self.use_cases = fingerprint
        return forgotten

    def mark_handled(self, path: Path, signature: Signature) -> None:
        self.pending.pop(path.name, None)
        self.handled[path.name] = signature

    def remember(self, record: DecisionRecord) -> bool:
        """Keep ``record`` among the recent decisions unless it repeats the file's latest one.

        Returns whether it was kept: a file retried every tick (waiting for the model) is
        reported once per state, not once per tick.
        """
        latest = next((kept for kept in reversed(self.recent) if kept.name == record.name), None)
        if latest is not None and (latest.signature, latest.decision) == (record.signature, record.decision):
            return False
        self.recent = [*self.recent, record][-RECENT_DECISIONS:]
        return True


def _kind(mode: int) -> str:
    if stat_flags.S_ISREG(mode):
        return "file"
    if stat_flags.S_ISDIR(mode):
        return "folder"
    if stat_flags.S_ISLNK(mode):
        return "symbolic link"
    return "special file"


def scan_inbox(
    inbox: Path, state: InboxState, now: float, settle_seconds: float, skip: frozenset[str] = frozenset()
) -> list[SettledEntry]:
    """Entries that have settled and are not decided in their current state, oldest first.

    Updates ``state.pending`` and forgets entries no longer in the inbox. One ``os.scandir``
    and no file reads: cheap with thousands of files in the inbox. Names in ``skip`` (the use
    cases' own folders inside the shared inbox) are passed over. An inbox removed since the
    caller made it is an empty one: its files are gone, so they are forgotten.
    """
    settled: list[tuple[int, SettledEntry]] = []
    pending: dict[str, Signature] = {}
    present: set[str] = set()
    try:
        listing = os.scandir(inbox)
    except FileNotFoundError:
        listing = nullcontext(iter(()))
    with listing as entries:
        for entry in entries:
            if is_being_written(entry.name) or entry.name == INBOX_README or entry.name in skip:
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since the listing
            kind = _kind(stat.st_mode)
            signature: Signature = FOLDER_SIGNATURE if kind == "folder" else (stat.st_size, stat.st_mtime_ns)
            present.add(entry.name)
            if state.handled.get(entry.name) == signature:
                continue
            quiet = now - signature[1] / 1e9 >= settle_seconds
            if state.pending.get(entry.name) == signature and quiet:
                verdict = decision_without_reading(entry.name, kind, stat.st_size)
                settled.append((signature[1], SettledEntry(Path(entry.path), signature, verdict)))
            pending[entry.name] = signature
    state.pending = pending
    state.handled = {name: sig for name, sig in state.handled.items() if name in present}
    return [entry for _, entry in sorted(settled, key=lambda item: (item[0], item[1].name))]


def second_sighting_wait(state: InboxState, settled: list[SettledEntry], settle_seconds: float, now: float) -> float:
    """Seconds to wait before a second scan in the same tick: ``settle_seconds`` when the settle
    is more than 0 and at most ``SECOND_SIGHTING_IN_TICK_SECONDS`` and some entry not yet settled
    could settle by then (seen new or changed in this scan, or unchanged but not yet old enough),
    else 0 and the next tick is the second sighting. An entry modified after ``now`` (a share
    whose clock runs ahead) cannot be quiet by then, so it never makes the tick wait."""
    if not 0 < settle_seconds <= SECOND_SIGHTING_IN_TICK_SECONDS:
        return 0.0
    settled_names = {entry.name for entry in settled}
    could_settle = any(
        signature[1] / 1e9 <= now for name, signature in state.pending.items() if name not in settled_names
    )
    return settle_seconds if could_settle else 0.0


def signature_of(path: Path) -> Signature:
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)
