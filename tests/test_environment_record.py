"""The installed packages a file is scored with: listed once per environment, remembered by their metadata folders.

The remembered list must always be the list reading every package's metadata gives; a changed set of
installed versions, or a list file that no longer matches its name, makes it read the metadata again.
"""

from __future__ import annotations

import sys

from scoring_assets.core import provenance
from scoring_assets.core.files import file_sha256


def test_the_remembered_list_is_the_one_the_metadata_gives(tmp_path):
    first_sha, first_list = provenance.record_environment(tmp_path)
    again_sha, again_list = provenance.record_environment(tmp_path)

    assert first_sha == again_sha == provenance.environment_sha256(provenance.installed_packages())
    assert first_list == again_list == tmp_path / f"{first_sha}.txt"
    assert file_sha256(first_list) == first_sha
    assert first_list.read_text(encoding="utf-8") == provenance.packages_text(provenance.installed_packages())


def test_a_new_package_version_is_a_new_listing(tmp_path, monkeypatch):
    before = provenance.metadata_folders_sha256()
    site = tmp_path / "site"
    (site / "example_package-1.0.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    one = provenance.metadata_folders_sha256()
    (site / "example_package-1.0.dist-info").rename(site / "example_package-1.1.dist-info")
    upgraded = provenance.metadata_folders_sha256()

    assert len({before, one, upgraded}) == 3
    assert str(site) == sys.path[0]


def test_a_list_file_that_no_longer_matches_its_name_is_written_again(tmp_path, monkeypatch):
    sha256, listed = provenance.record_environment(tmp_path)
    listed.write_text("numpy==0.0\n", encoding="utf-8")
    read = []
    real = provenance.installed_packages
    monkeypatch.setattr(provenance, "installed_packages", lambda: read.append(1) or real())

    assert provenance.record_environment(tmp_path) == (sha256, listed)
    assert read, "the metadata was read again"
    assert file_sha256(listed) == sha256


def test_a_remembered_sha_without_its_list_file_reads_the_metadata(tmp_path):
    sha256, listed = provenance.record_environment(tmp_path)
    listed.unlink()

    assert provenance.record_environment(tmp_path) == (sha256, listed)
    assert file_sha256(listed) == sha256
