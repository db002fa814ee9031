"""Settings have one home (``settings.py``; ``defs/resources.py`` builds the resources from it), reach the code as
resources, and a secret never shows.

The UI shows each resource's configured values from the code location's snapshot: the webhook URL
(a secret: it may carry a token) must appear there by its variable's name only, and the model
root must be a setting a run resolves when it starts, so the UI, an operator and a test can move it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from scoring_assets.core.paths import REPO_ROOT
from scoring_assets.defs.resources import scoring_resources
from scoring_assets.settings import DRIFT_WEBHOOK_VARIABLE, INBOX_SETTLE_VARIABLE, MODEL_ROOT_VARIABLE
from tests.test_import_graph import PACKAGE_ROOT, modules

SECRET = "https://hooks.example.invalid/services/T000/B000/very-secret-token"
# Modules allowed to read the environment: the settings' home, the use-case registry, the CLI's entry,
# the resource classes (an EnvVar setting handed to them is resolved there when used outside a run), and
# the entry points' process setup (which keeps an Arrow memory pool chosen with ARROW_DEFAULT_MEMORY_POOL).
ENVIRONMENT_READERS = {
    "scoring_assets.settings",
    "scoring_assets.defs.resources",
    "scoring_assets.use_cases",
    "scoring_assets.cli",
    "scoring_assets.builders.resources",
    "scoring_assets.process_memory",
}

SNAPSHOT_PROBE = """
import os, sys
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from scoring_assets.definitions import defs
repository = defs().get_repository_def()
sys.stdout.write(serialize_value(RepositorySnap.from_def(repository)))
"""


def test_the_ui_shows_the_webhook_url_by_its_variable_name_never_its_value(tmp_path):
    """The code location loaded as the UI loads it, with the secret set: its snapshot never holds the value."""
    env = {
        **os.environ,
        DRIFT_WEBHOOK_VARIABLE: SECRET,
        "DAGSTER_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", SNAPSHOT_PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert SECRET not in done.stdout
    assert DRIFT_WEBHOOK_VARIABLE in done.stdout, "the UI names the variable the URL comes from"


PLAIN_VALUE_PROBE = """
import sys
import dagster as dg
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from scoring_assets.builders.resources import DriftAlerts
definitions = dg.Definitions(resources={"drift_alerts": DriftAlerts(webhook_url=sys.argv[1])})
sys.stdout.write(serialize_value(RepositorySnap.from_def(definitions.get_repository_def())))
"""


def test_the_snapshot_would_show_a_secret_given_as_a_plain_value(tmp_path):
    """The check above can fail: a URL given as a plain value is in the snapshot (in a fresh process, as above)."""
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_VALUE_PROBE, SECRET],
        cwd=REPO_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert SECRET in done.stdout


def test_the_model_root_is_resolved_when_used_so_a_run_sees_a_change(monkeypatch, tmp_path):
    store = scoring_resources()["model_store"]
    monkeypatch.setenv(MODEL_ROOT_VARIABLE, str(tmp_path))
    assert store.path == tmp_path.resolve()
    monkeypatch.setenv(MODEL_ROOT_VARIABLE, str(REPO_ROOT))
    assert store.path == REPO_ROOT


def test_without_its_variable_each_setting_keeps_its_built_in_default(monkeypatch):
    for variable in (MODEL_ROOT_VARIABLE, DRIFT_WEBHOOK_VARIABLE, INBOX_SETTLE_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    resources = scoring_resources()
    assert resources["model_store"].path == REPO_ROOT
    assert resources["drift_alerts"].webhook_url == ""
    assert resources["inbox_settings"].settle_seconds == 2.0


def reads_the_environment(source: str) -> list[int]:
    """Lines of ``source`` that read ``os.environ`` / ``os.getenv`` (or an EnvVar's value)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv")
            and getattr(node.value, "id", "") == "os"
        ):
            found.append(node.lineno)
        if isinstance(node, ast.Attribute) and node.attr == "EnvVar":
            found.append(node.lineno)
    return found


@pytest.mark.parametrize("name", sorted(set(modules()) - ENVIRONMENT_READERS))
def test_no_module_but_the_settings_home_reads_the_environment(name):
    path = modules()[name]
    lines = reads_the_environment(path.read_text(encoding="utf-8"))
    assert not lines, f"{path.relative_to(PACKAGE_ROOT.parent)} reads the environment at line(s) {lines}"


def test_the_environment_scan_sees_a_read():
    assert reads_the_environment("import os\nvalue = os.environ.get('X')\n") == [2]
    assert reads_the_environment("import dagster as dg\nsetting = dg.EnvVar('X')\n") == [2]
