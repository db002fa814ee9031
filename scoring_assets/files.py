"""Writing outputs all-or-nothing, and hashing files: used by training and scoring alike.

Readers (a person, DVC, the inbox sensor, a CRM import) never see a half-written file: every
output is written to a hidden temporary name beside its destination and renamed into place
only when complete. A failed write leaves the previous file, if any, untouched.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place only if the block succeeds.

    The temporary file is created by whoever writes it (so the umask applies) and its name
    starts with a dot and ends in ``.tmp``, which the inbox sensor ignores.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(final: Path | str, text: str) -> None:
    with atomic_path(final) as temporary:
        temporary.write_text(text, encoding="utf-8")


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
