"""Partition keys: one per input file, made from its name and content.

The key ``<safe stem>-<first 8 hex of sha256>`` means the same bytes always map to the same
partition, a re-delivered file with new content gets a new one, and nothing in a file name
can steer a path outside the data folders (keys are checked before any path is built).
"""

from __future__ import annotations

import re
from pathlib import Path

_STEM_MAX = 48
_KEY_PATTERN = re.compile(rf"^[A-Za-z0-9_]{{1,{_STEM_MAX}}}-[0-9a-f]{{8}}$")


class PartitionKeyError(ValueError):
    """A partition key that was not made by ``partition_key_for`` (and so is not safe as a path)."""


def safe_stem(file_name: str) -> str:
    """The file's stem reduced to letters, digits and underscores (never empty)."""
    stem = Path(file_name).name
    stem = stem[: -len(".csv")] if stem.lower().endswith(".csv") else Path(stem).stem
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")[:_STEM_MAX].strip("_")
    return cleaned or "file"


def partition_key_for(file_name: str, sha256: str) -> str:
    return f"{safe_stem(file_name)}-{sha256[:8]}"


def checked_partition_key(key: str) -> str:
    """``key`` if it is safe to use as a file name, else a ``PartitionKeyError``."""
    if not _KEY_PATTERN.match(key):
        raise PartitionKeyError(
            f"partition key {key!r} is not of the form <name>-<8 hex digits>; partitions are created by "
            "registering a file (sensor or `scoring-assets score`), not by hand"
        )
    return key
