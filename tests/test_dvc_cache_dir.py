"""A DVC project whose cache is elsewhere (``cache.dir``): models are written to and read from that cache.

The cache directory comes from ``cache.dir`` of ``.dvc/config.local``, else ``.dvc/config``, relative
to ``.dvc/`` as DVC resolves it. The tests marked e2e set it with the real ``dvc config`` and hold the
result against the real ``dvc``: ``dvc cache dir`` names the same folder, ``dvc status`` is clean after
a challenger is registered and promoted, and ``dvc checkout`` restores the served model from there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scoring_assets.core.dvc_cache import cache_dir, cache_object, configured_cache_dir
from scoring_assets.core.model_lifecycle import ModelFiles, promote, rollback
from scoring_assets.core.model_store import verify_artifact
from scoring_assets.core.paths import REPO_ROOT
from tests.support.batches import TELCO
from tests.support.model_roots import dvc_model_root, new_challenger

DVC = REPO_ROOT / ".venv-dvc" / "bin" / "dvc"


def dvc(root: Path, *args: str) -> str:
    result = subprocess.run(
        [str(DVC), *args], cwd=root, capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def project_with_config(tmp_path: Path, config: str, local: str | None = None) -> Path:
    root = tmp_path / "project"
    (root / ".dvc").mkdir(parents=True)
    (root / ".dvc" / "config").write_text(config, encoding="utf-8")
    if local is not None:
        (root / ".dvc" / "config.local").write_text(local, encoding="utf-8")
    return root


def test_without_cache_dir_the_cache_is_dvc_cache(tmp_path):
    root = project_with_config(tmp_path, "[core]\n    analytics = false\n")
    assert cache_dir(root) == root / ".dvc" / "cache"
    assert cache_object(root, "0123" + "0" * 28) == root / ".dvc/cache/files/md5/01" / ("23" + "0" * 28)


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("../mycache", "mycache"),
        ('"../my cache, shared"', "my cache, shared"),
        ("'../quoted'   # a comment", "quoted"),
        ("../bare # a comment", "bare"),
    ],
)
def test_a_relative_cache_dir_is_relative_to_the_dvc_folder_and_read_as_configobj_writes_it(tmp_path, written, meant):
    root = project_with_config(tmp_path, f"[core]\n    analytics = false\n[cache]\n    dir = {written}\n")
    assert cache_dir(root) == root / meant


def test_config_local_wins_over_config_and_an_absolute_path_stays_as_it_is(tmp_path):
    elsewhere = tmp_path / "shared_cache"
    local = f"[cache]\n  dir = {elsewhere}\n"
    root = project_with_config(tmp_path, "[cache]\n    dir = ../project_cache\n", local=local)
    assert cache_dir(root) == elsewhere
    (root / ".dvc" / "config.local").write_text("[core]\n    autostage = false\n", encoding="utf-8")
    assert cache_dir(root) == root / "project_cache", "a config.local without cache.dir leaves config's"
    assert configured_cache_dir(root / ".dvc" / "no_such_config") is None


def project_with_cache_elsewhere(tmp_path: Path) -> tuple[Path, Path]:
    """A git + DVC project whose ``.dvc/config.local`` (set by the real ``dvc config``) puts its cache outside it.

    The champion's objects are moved there, as a user moves the cache after changing ``cache.dir``.
    """
    root = dvc_model_root(tmp_path / "models", git=True)
    elsewhere = tmp_path / "shared_dvc_cache"
    dvc(root, "config", "--local", "cache.dir", "../shared_dvc_cache")  # from the project root
    assert "dir = ../../shared_dvc_cache" in (root / ".dvc" / "config.local").read_text(), "stored relative to .dvc/"
    shutil.move(root / ".dvc" / "cache", elsewhere)
    return root, elsewhere


@pytest.mark.e2e
def test_dvc_and_the_model_store_agree_on_a_cache_dir_set_with_dvc_config(tmp_path):
    root = dvc_model_root(tmp_path / "models", git=True)
    # The command line takes a path relative to where it runs; DVC stores it relative to .dvc/.
    for level, value, expected in (
        ("--project", "../my cache", tmp_path / "my cache"),
        ("--local", str(tmp_path / "absolute"), tmp_path / "absolute"),
    ):
        dvc(root, "config", level, "cache.dir", value)
        assert Path(dvc(root, "cache", "dir")) == expected == cache_dir(root)


@pytest.mark.e2e
def test_promotion_and_rollback_use_the_configured_cache_and_dvc_status_stays_clean(tmp_path, model_artifact):
    root, elsewhere = project_with_cache_elsewhere(tmp_path)
    champion = verify_artifact(TELCO, root).md5
    assert cache_dir(root) == elsewhere

    first = new_challenger(root, compress=3)
    assert dvc(root, "status") == "Data and pipelines are up to date."
    promote(TELCO, root)
    second = new_challenger(root, compress=5)
    promote(TELCO, root)
    assert dvc(root, "status") == "Data and pipelines are up to date."
    for md5 in (champion, first, second):
        assert cache_object(root, md5).is_file() and cache_object(root, md5).is_relative_to(elsewhere)
    assert not (root / ".dvc" / "cache").exists(), "nothing is written to the default cache"

    served = ModelFiles(TELCO, root).served
    shutil.rmtree(served.with_suffix(""))
    assert verify_artifact(TELCO, root).md5 == second, "read from the configured cache while not checked out"
    dvc(root, "checkout", str(served.relative_to(root)))
    assert verify_artifact(TELCO, root).md5 == second, "DVC checks it out from the same cache"

    assert rollback(TELCO, root).served_md5 == first
    assert verify_artifact(TELCO, root).md5 == first
    assert dvc(root, "status") == "Data and pipelines are up to date."
    assert not (root / ".dvc" / "cache").exists()
