"""Every instance config in deploy/ loads as Dagster instance config, without a server to talk to.

Each YAML there is checked the way Dagster reads a ``$DAGSTER_HOME/dagster.yaml`` (the instance
schema), and each configurable class it names (run coordinator, run launcher) is imported and
its own settings validated against that class's schema, with the ``{env: ...}`` variables set
to placeholders. A config that needs no server (SQLite) is opened for real; the Postgres
storage (dagster-postgres's, or this project's pooled subclass of it) is resolved to the
connection URL dagster-postgres would use; the Kubernetes run
launcher's volumes and mounts are parsed into Kubernetes models as dagster-k8s does before it
creates a run pod. Nothing here talks to Postgres or a cluster: tests/test_postgres_e2e.py runs
the Postgres config for real; the Kubernetes one is run by no test (docs/deployment.md, "Beyond one machine").
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData

from scoring_assets.core.paths import INSTANCE_CONFIG_PATH, REPO_ROOT
from scoring_assets.settings import DATA_DIR_VARIABLE

DEPLOY_DIR = REPO_ROOT / "deploy"
INSTANCE_CONFIGS = sorted(DEPLOY_DIR.glob("*.yaml")) + sorted(DEPLOY_DIR.glob("*.yml"))
K8S_CONFIG = DEPLOY_DIR / "dagster.k8s-postgres.yaml"
POSTGRES_CONFIG = DEPLOY_DIR / "dagster.postgres.yaml"
# Every variable a deploy config reads, with a placeholder value (each must be listed here).
PLACEHOLDERS = {
    "DAGSTER_PG_HOST": "postgres.invalid",
    "DAGSTER_PG_PORT": "6543",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-password",
    "DAGSTER_PG_DB": "dagster",
    "SCORING_ASSETS_IMAGE": "registry.invalid/scoring-assets:test",
    "DAGSTER_K8S_NAMESPACE": "scoring",
}


def env_variables(node) -> Iterator[str]:
    """The names of every ``{env: NAME}`` source in a loaded YAML document."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            yield node["env"]
        for value in node.values():
            yield from env_variables(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_variables(value)


def configurable_classes(config: dict) -> dict[str, dict]:
    """The instance config's sections that name a class to load: section -> {module, class, config}."""
    return {
        section: value
        for section, value in config.items()
        if isinstance(value, dict) and {"module", "class"} <= set(value)
    }


def resolved_class_config(section: dict):
    """Import the section's class and validate its settings against its own schema (env vars resolved)."""
    data = ConfigurableClassData(section["module"], section["class"], yaml.safe_dump(section.get("config") or {}))
    klass = getattr(importlib.import_module(data.module_name), data.class_name)
    result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
    assert result.success, f"{section['module']}.{section['class']}: {[error.message for error in result.errors]}"
    return klass, result.value


@pytest.fixture
def placeholder_env(monkeypatch):
    for name, value in PLACEHOLDERS.items():
        monkeypatch.setenv(name, value)


def test_deploy_holds_the_three_instance_configs():
    assert {path.name for path in INSTANCE_CONFIGS} == {
        INSTANCE_CONFIG_PATH.name,
        POSTGRES_CONFIG.name,
        K8S_CONFIG.name,
    }


@pytest.mark.usefixtures("placeholder_env")
@pytest.mark.parametrize("path", INSTANCE_CONFIGS, ids=lambda path: path.name)
def test_each_deploy_config_loads_as_dagster_instance_config(path: Path, tmp_path):
    raw = yaml.safe_load(path.read_text())
    unknown = set(env_variables(raw)) - set(PLACEHOLDERS)
    assert not unknown, f"{path.name} reads variables this test does not know: {sorted(unknown)}"
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(path, home / "dagster.yaml")

    config, custom_instance_class = dagster_instance_config(str(home))

    assert custom_instance_class is None
    assert config["telemetry"] == {"enabled": False}
    for section in configurable_classes(config).values():
        resolved_class_config(section)
    run_coordinator, queue = resolved_class_config(config["run_coordinator"])
    assert run_coordinator.__name__ == "QueuedRunCoordinator"
    assert queue["max_concurrent_runs"] >= 1
    storage = config.get("storage", {})
    if "postgres" in storage or "custom" in storage:
        from dagster_postgres import DagsterPostgresStorage
        from dagster_postgres.utils import pg_url_from_config

        if "custom" in storage:  # a class of this project's, taking dagster-postgres's settings
            storage_class, settings = resolved_class_config(storage["custom"])
            assert issubclass(storage_class, DagsterPostgresStorage), storage_class
        else:
            result = process_config(resolve_to_config_type(DagsterPostgresStorage.config_type()), storage["postgres"])
            assert result.success, [error.message for error in result.errors]
            settings = result.value
        url = pg_url_from_config(settings)
        assert url.startswith("postgresql+psycopg2://dagster:not-a-password@postgres.invalid:6543/dagster"), url
    elif "run_launcher" not in config:  # needs no server: open it for real
        with DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert instance.run_coordinator.inst_data.config_dict == raw["run_coordinator"]["config"]


def test_the_postgres_config_lets_several_runs_go_at_once():
    """What the Postgres end-to-end test relies on: runs overlap rather than queue one by one."""
    queue = yaml.safe_load(POSTGRES_CONFIG.read_text())["run_coordinator"]["config"]
    assert queue["max_concurrent_runs"] > 1


@pytest.mark.usefixtures("placeholder_env")
def test_the_kubernetes_run_launcher_accepts_its_settings_and_run_pods_get_what_they_need():
    import kubernetes
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

    config = yaml.safe_load(K8S_CONFIG.read_text())
    launcher_class, launcher = resolved_class_config(config["run_launcher"])

    assert launcher_class is K8sRunLauncher
    assert launcher["job_image"] == PLACEHOLDERS["SCORING_ASSETS_IMAGE"]
    assert launcher["job_namespace"] == PLACEHOLDERS["DAGSTER_K8S_NAMESPACE"]
    # As dagster-k8s turns them into the run pod's spec (unknown or misspelt keys fail here).
    mounts = [
        k8s_model_from_dict(kubernetes.client.V1VolumeMount, k8s_snake_case_dict(kubernetes.client.V1VolumeMount, m))
        for m in launcher["volume_mounts"]
    ]
    volumes = [
        k8s_model_from_dict(kubernetes.client.V1Volume, k8s_snake_case_dict(kubernetes.client.V1Volume, v))
        for v in launcher["volumes"]
    ]
    assert {mount.name for mount in mounts} <= {volume.name for volume in volumes}
    env = dict(item.split("=", 1) if "=" in item else (item, None) for item in launcher["env_vars"])
    # The working folders are the shared volume, in every run pod.
    assert env[DATA_DIR_VARIABLE] in {mount.mount_path for mount in mounts}
    assert env["SCORING_MODEL_ROOT"], "run pods must know where the image keeps the DVC-tracked models"
    # A run pod loads the same instance config (from the ConfigMap), so it needs every Postgres
    # variable that config reads: the password from the Secret, the rest passed through.
    storage_variables = set(env_variables(config["storage"]))
    given = set(env) | ({"DAGSTER_PG_PASSWORD"} if launcher.get("postgres_password_secret") else set())
    assert storage_variables <= given, f"run pods would miss {sorted(storage_variables - given)}"


def test_the_kubernetes_queue_limits_name_tags_the_runs_carry():
    """Per-use-case and re-score limits only work if every run of those jobs carries the tags they name."""
    from scoring_assets.builders.keys import keys_of
    from scoring_assets.builders.run_tags import TRIGGER, USE_CASE, Trigger
    from scoring_assets.defs.use_cases import scoring_definitions
    from scoring_assets.use_cases import all_use_cases

    limits = yaml.safe_load(K8S_CONFIG.read_text())["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {limit["key"] for limit in limits} == {USE_CASE, TRIGGER}
    assert {limit["value"] for limit in limits if limit["key"] == TRIGGER} == {Trigger.RESCORE.value}
    definitions = scoring_definitions()
    for use_case in all_use_cases().values():
        keys = keys_of(use_case)
        for job_name in (keys.score_file_job, keys.rescore_job, keys.rescore_batch_job):
            assert definitions.resolve_job_def(job_name).tags[USE_CASE] == use_case.name
