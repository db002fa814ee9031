"""Writing outputs all-or-nothing, and hashing files: used by training and scoring alike.

Readers (a person, DVC, the inbox sensor, a CRM import) never see a half-written file: every
output is written to a hidden temporary name beside its destination and renamed into place
only when complete. A failed write leaves the previous file, if any, untouched.

A writer killed outright (``kill -9``, a lost machine) cannot remove its temporary, so the
temporary's name says who wrote it (``.<name>.<host>.<pid>.<random>.tmp``): a temporary of
this host whose process is gone is litter and is removed the next time anything is written
into its folder (``remove_dead_writers_temporaries``); a live writer's never is.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Host names may hold dots; the temporary's name must be split back unambiguously.
THIS_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "localhost"
_TEMPORARY_NAME = re.compile(r"^\.(?P<final>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")
_swept_folders: set[str] = set()


@contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place only if the block succeeds.

    The temporary file is created by whoever writes it (so the umask applies) and its name
    starts with a dot and ends in ``.tmp``, which the inbox sensor ignores. The first write
    of a process into a folder first removes what dead writers left there.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = os.path.abspath(final.parent)
    if folder not in _swept_folders:
        remove_dead_writers_temporaries(final.parent)
        _swept_folders.add(folder)
    temporary = final.with_name(f".{final.name}.{THIS_HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def remove_dead_writers_temporaries(folder: Path | str, recursive: bool = False) -> list[Path]:
    """Delete the ``atomic_path`` temporaries in ``folder`` whose writer is no longer running.

    Only temporaries written on this host are judged (a process id means nothing elsewhere);
    one whose process is alive, or whose id a new process has taken, is kept. Returns what
    was removed. ``recursive`` also sweeps every folder below (e.g. the whole data folder
    when a run starts).
    """
    removed = []
    folders = [os.path.abspath(folder)]
    while folders:
        current = folders.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError):
            continue
        _swept_folders.add(current)  # this process's own writes there need not sweep it again
        for entry in entries:
            if recursive and entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif entry.name.endswith(".tmp") and entry.name.startswith("."):  # 100,000 files: no regex for each
                written_by = _TEMPORARY_NAME.match(entry.name)
                if written_by and written_by["host"] == THIS_HOST and not process_is_running(int(written_by["pid"])):
                    Path(entry.path).unlink(missing_ok=True)
                    removed.append(Path(entry.path))
    return removed


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` has the form of an ``atomic_path`` temporary (``.<name>.<host>.<pid>.<random>.tmp``)."""
    return _TEMPORARY_NAME.match(name) is not None


def process_is_running(pid: int) -> bool:
    """Whether a process with this id exists on this host (another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not an id this system could have: not ours to judge
    return True


@contextmanager
def exclusive_lock(lock_file: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if missing) for the block, across processes.

    An advisory ``flock`` (POSIX): the kernel releases it when the holder exits or is killed,
    so a crashed holder never leaves it stuck.
    """
    import fcntl

    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_text_atomically(final: Path | str, text: str) -> None:
    with atomic_path(final) as temporary:
        temporary.write_text(text, encoding="utf-8")


def append_json_line(ledger: Path, record: dict) -> None:
    """One line at the end of a ledger, rewritten whole through a temporary under a lock (never half a line).

    The lock is ``locks/<ledger name>.lock`` beside the ledger; retirements and prunings keep their ledgers so.
    """
    (ledger.parent / "locks").mkdir(parents=True, exist_ok=True)
    with exclusive_lock(ledger.parent / "locks" / f"{ledger.name}.lock"):
        earlier = ledger.read_text(encoding="utf-8") if ledger.exists() else ""
        if earlier and not earlier.endswith("\n"):
            earlier += "\n"
        write_text_atomically(ledger, earlier + json.dumps(record, sort_keys=True) + "\n")


def json_lines(ledger: Path) -> list[dict]:
    """A ledger's records, oldest first (none when it does not exist)."""
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines() if line.strip()]


def file_digest(path: Path | str, algorithm: str, chunk_bytes: int = 8 << 20) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path | str) -> str:
    """Content identity of input and output files (partition keys, manifests)."""
    return file_digest(path, "sha256")


def file_md5(path: Path | str) -> str:
    """The hash DVC records in dvc.lock."""
    return file_digest(path, "md5")


class HashingFile(io.RawIOBase):
    """A file open for writing that hashes every byte written: its sha256 without reading the file back."""

    def __init__(self, path: Path | str):
        self._handle = open(path, "wb")
        self._digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        self._digest.update(view)
        return self._handle.write(view)

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
