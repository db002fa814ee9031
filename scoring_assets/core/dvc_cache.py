"""Writing what ``dvc add <folder>`` writes, without importing dvc: cache objects, directory listings, ``.dvc`` files.

DVC 3 keeps every file it tracks as a read-only object ``.dvc/cache/files/md5/<2 hex>/<30 hex>``
named by the md5 of its bytes. A tracked directory is one more object, ``<md5>.dir``: the JSON
list ``[{"md5": ..., "relpath": ...}]`` sorted by path (``json.dumps(..., sort_keys=True)``), whose
own md5 is the directory's. Its ``.dvc`` file says ``outs: [{md5: <md5>.dir, size, nfiles, hash:
md5, path}]``. These are the formats ``dvc add`` wrote in a scratch project with DVC 3.67, and the
tests hold them against the real ``dvc status``. Every object is complete before it has its name
(``core.files.atomic_path``), so a killed writer never leaves a truncated object behind.

The cache is where the project's DVC config puts it: ``cache.dir`` of ``.dvc/config.local``, else of
``.dvc/config`` (a relative path is relative to ``.dvc/``, as DVC resolves it), else ``.dvc/cache``;
objects are under ``<cache dir>/files/md5`` either way (``cache_object`` is the one place that says so).
The user's and the machine's DVC config (``dvc config --global`` / ``--system``) are not read.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from scoring_assets.core.files import atomic_path, file_md5, write_text_atomically

DVC_FOLDER = ".dvc"
DEFAULT_CACHE = "cache"  # DVC's default cache directory, in .dvc/
CACHE_FILES = Path("files") / "md5"  # DVC 3's objects, under the cache directory
CONFIG_FILES = ("config.local", "config")  # in .dvc/, the first that sets cache.dir wins (as in DVC)
DIRECTORY_SUFFIX = ".dir"


class DvcConfigError(ValueError):
    """A project's DVC config file cannot be read (DVC itself refuses such a project)."""


def cache_dir(root: Path) -> Path:
    """The DVC cache directory of the project ``root``: its configured ``cache.dir``, else ``.dvc/cache``."""
    dvc_folder = Path(root) / DVC_FOLDER
    for name in CONFIG_FILES:
        configured = configured_cache_dir(dvc_folder / name)
        if configured is not None:
            # Relative to the config file's folder; an absolute (or ~) path stays as it is.
            return Path(os.path.normpath(dvc_folder / Path(configured).expanduser()))
    return dvc_folder / DEFAULT_CACHE


def cache_object(root: Path, md5: str) -> Path:
    """Where DVC keeps the object named ``md5`` (``<md5>.dir`` for a directory listing) in the project ``root``."""
    return cache_dir(root) / CACHE_FILES / md5[:2] / md5[2:]


def configured_cache_dir(config_file: Path) -> str | None:
    """``cache.dir`` as one DVC config file (an INI file as configobj writes it) sets it; None when it does not."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(config_file.read_text(encoding="utf-8"), source=str(config_file))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        raise DvcConfigError(f"cannot read the DVC config {config_file}: {error}") from None
    # DVC lower-cases section and option names; configparser lower-cases option names only.
    sections = [name for name in parser.sections() if name.strip().lower() == "cache"]
    values = [parser.get(name, "dir") for name in sections if parser.has_option(name, "dir")]
    return (_configobj_value(values[-1]) or None) if values else None  # empty: treated as unset


def _configobj_value(raw: str) -> str:
    """A value as configobj reads it: the text inside its quotes (``'``, ``"`` or tripled), else up to a ``#``."""
    text = raw.strip()
    for quote in ('"""', "'''", '"', "'"):
        end = text.find(quote, len(quote)) if text.startswith(quote) else -1
        if end >= len(quote):
            return text[len(quote) : end]
    return text.split("#", 1)[0].strip()


def add_file(root: Path, source: Path) -> str:
    """Copy ``source`` into the cache unless its object is already there; returns its md5."""
    md5 = file_md5(source)
    target = cache_object(root, md5)
    if not target.is_file() or file_md5(target) != md5:
        with atomic_path(target) as temporary:
            shutil.copyfile(source, temporary)
            os.chmod(temporary, 0o444)
    return md5


@dataclass(frozen=True)
class DirectoryListing:
    """A tracked directory's content: file name -> md5, and the directory's own md5 (without ``.dir``)."""

    files: dict[str, str]

    @property
    def payload(self) -> bytes:
        entries = [{"md5": md5, "relpath": name} for name, md5 in sorted(self.files.items())]
        return json.dumps(entries, sort_keys=True).encode("utf-8")

    @property
    def md5(self) -> str:
        return hashlib.md5(self.payload).hexdigest()


def add_directory(root: Path, files: dict[str, Path]) -> DirectoryListing:
    """Put every file and then the directory's listing into the cache (file name -> source path)."""
    listing = DirectoryListing({name: add_file(root, source) for name, source in files.items()})
    target = cache_object(root, listing.md5 + DIRECTORY_SUFFIX)
    if not target.is_file() or target.read_bytes() != listing.payload:
        with atomic_path(target) as temporary:
            temporary.write_bytes(listing.payload)
            os.chmod(temporary, 0o444)
    return listing


def write_directory_record(root: Path, dvc_file: Path, listing: DirectoryListing, meta: dict | None = None) -> None:
    """Replace ``dvc_file`` at once by the record of ``listing`` as the directory beside it named like the file.

    Sizes are read from the cache objects, which must be there (``add_directory`` first).
    """
    size = sum(cache_object(root, md5).stat().st_size for md5 in listing.files.values())
    record: dict = {
        "outs": [
            {
                "md5": listing.md5 + DIRECTORY_SUFFIX,
                "size": size,
                "nfiles": len(listing.files),
                "hash": "md5",
                "path": dvc_file.stem,
            }
        ]
    }
    if meta:
        record["meta"] = meta
    write_text_atomically(dvc_file, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))


def write_file_record(root: Path, dvc_file: Path, tracked: Path, md5: str, meta: dict | None = None) -> None:
    """Replace ``dvc_file`` at once by the record ``dvc add <tracked>`` writes for one file (``add_file`` first)."""
    record: dict = {
        "outs": [{"md5": md5, "size": cache_object(root, md5).stat().st_size, "hash": "md5", "path": tracked.name}]
    }
    if meta:
        record["meta"] = meta
    write_text_atomically(dvc_file, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))


def checkout_directory(root: Path, listing: DirectoryListing, folder: Path, after_each=None) -> None:
    """Make ``folder`` hold exactly the listed files, copied from the cache, each replaced at once.

    A file whose bytes already match is left alone; files the listing does not name are removed.
    ``after_each(name)`` is called after each file is put in place.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in sorted(listing.files.items()):
        target = folder / name
        if not (target.is_file() and file_md5(target) == md5):
            with atomic_path(target) as temporary:
                shutil.copyfile(cache_object(root, md5), temporary)
        if after_each is not None:
            after_each(name)
    for extra in folder.iterdir():
        if extra.name not in listing.files and extra.is_file():
            extra.unlink()


def remove_directory(folder: Path) -> None:
    """Remove a checked-out directory (its objects stay in the cache)."""
    shutil.rmtree(folder, ignore_errors=True)


def ensure_ignored(folder: Path, *names: str) -> None:
    """List ``/<name>`` in ``folder/.gitignore`` as ``dvc add`` does, keeping what the file already says."""
    gitignore = folder / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    present = set(text.splitlines())
    missing = [f"/{name}" for name in names if f"/{name}" not in present]
    if missing:
        if text and not text.endswith("\n"):
            text += "\n"
        write_text_atomically(gitignore, text + "".join(f"{line}\n" for line in missing))
