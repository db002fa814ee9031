"""The Postgres instance storage keeps its connections: a real server, the deploy config, the CLI.

deploy/dagster.postgres.yaml names ``scoring_assets.deploy.postgres_storage.PooledPostgresStorage``
instead of dagster-postgres's stock storage, which opens a connection for every query. Against a
PostgreSQL server started on 127.0.0.1 (tests/support/postgres.py), a ``scoring-assets score``
run on each must give the same scores, with the server counting how many sessions each opened;
a kept connection the server drops must be replaced without the next query failing; and instances
made one after another in a process (the code server makes one per sensor evaluation) must share
its connections rather than leave their own behind for the garbage collector.
"""

from __future__ import annotations

import gc
import time
from contextlib import ExitStack
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance
from dagster_postgres import DagsterPostgresStorage

from scoring_assets.deploy.postgres_storage import close_process_engines, private_names_problem
from tests.support.batches import TELCO, valid_rows, write_csv
from tests.support.cli_workspace import new_workspace, reported_path
from tests.support.postgres import PostgresServer
from tests.test_postgres_e2e import POSTGRES_INSTANCE_CONFIG, start_postgres
from tests.test_sensors import grouped_count_agrees_with_reading_each_partition

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("model_artifact")]
SETTLE_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="module")
def postgres():
    with ExitStack() as stack:
        server = start_postgres(stack)
        yield server
    assert server.process_ids() == [], "PostgreSQL processes were left running"


@pytest.fixture
def postgres_env(postgres: PostgresServer, monkeypatch):
    """The server's settings in the environment, and no connection of this process kept before or after."""
    for name, value in postgres.dagster_env().items():
        monkeypatch.setenv(name, value)
    close_process_engines()
    yield postgres
    close_process_engines()


def pooled_home(tmp_path) -> str:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(POSTGRES_INSTANCE_CONFIG.read_text())
    return str(home)


def use_every_storage(instance: DagsterInstance) -> None:
    instance.get_runs_count()  # runs
    instance.get_asset_keys()  # event log
    instance.all_instigator_state()  # schedules and sensors


def stock_storage_config() -> dict:
    """The deploy config with dagster-postgres's own storage class and the same settings."""
    config = yaml.safe_load(POSTGRES_INSTANCE_CONFIG.read_text())
    storage = config["storage"]["custom"]
    assert storage["class"] == "PooledPostgresStorage", storage
    config["storage"] = {"postgres": storage["config"]}
    return config


def sessions_opened(server: PostgresServer, kept: int = 0) -> int:
    """Sessions the server has counted so far, once only ``kept`` are open besides this query's.

    A session is counted as it ends, so the count is read once the run's have ended. The psql
    calls here are sessions too (one or two per call of this), noise against what is compared.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        others = int(
            server.psql(
                f"select count(*) from pg_stat_activity where datname = '{server.database}' and pid <> pg_backend_pid()"
            )
        )
        if others == kept or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert others == kept, f"{others} session(s) open, {kept} expected"
    return int(server.psql(f"select sessions from pg_stat_database where datname = '{server.database}'"))


def test_a_run_on_the_pooled_storage_opens_a_few_connections_where_the_stock_one_opens_one_per_query(
    tmp_path, postgres_env
):
    batch = write_csv(valid_rows(TELCO, n_rows=100), tmp_path / "batch.csv")
    opened, scores = {}, {}
    homes = {"pooled": POSTGRES_INSTANCE_CONFIG.read_text(), "stock": yaml.safe_dump(stock_storage_config())}
    for name, config in homes.items():
        workspace = new_workspace(tmp_path / name)
        workspace.dagster_home.mkdir(parents=True)
        (workspace.dagster_home / "dagster.yaml").write_text(config)
        with DagsterInstance.from_config(str(workspace.dagster_home)):
            pass  # Dagster's tables, made before anything is counted
        before = sessions_opened(postgres_env)
        result = workspace.run("score", str(batch), "--output", str(tmp_path / f"{name}.csv"))
        assert result.returncode == 0, result.stderr
        opened[name] = sessions_opened(postgres_env) - before
        scored = pd.read_csv(reported_path(result.stdout, "scored"))
        scores[name] = scored.drop(columns="scoring_timestamp")
        assert list(workspace.dagster_home.rglob("*.db")) == [], "SQLite storage was made beside Postgres"

    pd.testing.assert_frame_equal(scores["pooled"], scores["stock"])
    stored = postgres_env.psql("select status from runs where pipeline_name = 'telco_churn__score_file'").split()
    assert stored == ["SUCCESS", "SUCCESS"]
    print(f"sessions per run: {opened}")
    assert opened["stock"] > 100, opened  # one per query: what the pooled storage exists to avoid
    assert opened["pooled"] * 5 < opened["stock"], opened


def test_a_kept_connection_the_server_drops_is_replaced_without_a_failed_query(tmp_path, postgres_env):
    with DagsterInstance.from_config(pooled_home(tmp_path)) as instance:
        assert instance.get_ref().storage_data.class_name == "PooledPostgresStorage"
        use_every_storage(instance)
        before = sessions_opened(postgres_env, kept=3)
        for _ in range(30):
            use_every_storage(instance)
        # 90 queries later: no more sessions than the psql calls' own.
        assert sessions_opened(postgres_env, kept=3) - before <= 4, "queries opened connections of their own"

        dropped = postgres_env.psql(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            f"where datname = '{postgres_env.database}' and pid <> pg_backend_pid()"
        )
        assert int(dropped) == 3, f"the instance held {dropped} connection(s), one per storage expected"
        sessions_opened(postgres_env, kept=0)  # the dropped sessions have ended
        use_every_storage(instance)
        sessions_opened(postgres_env, kept=3)


def test_instances_made_one_after_another_share_the_process_connections(tmp_path, postgres_env):
    home = pooled_home(tmp_path)
    collecting = gc.isenabled()
    gc.disable()  # what an instance leaves behind must not depend on when the collector runs
    try:
        for _ in range(5):
            with DagsterInstance.from_config(home) as instance:
                use_every_storage(instance)
        sessions_opened(postgres_env, kept=3)
    finally:
        if collecting:
            gc.enable()
    close_process_engines()
    sessions_opened(postgres_env, kept=0)  # closed at exit, not left for the server to notice


def test_the_private_names_the_pooled_storage_relies_on_are_in_this_dagster_postgres(postgres_env):
    """Fails loudly on the dagster-postgres upgrade that renames what the engines are swapped through."""
    server = postgres_env
    url = f"postgresql+psycopg2://{server.username}:{server.password}@{server.host}:{server.port}/{server.database}"
    stock = DagsterPostgresStorage(url)  # outside the webserver its engines keep no connection (NullPool)
    assert private_names_problem(stock) is None


def test_a_storage_without_those_names_is_refused_naming_each_one():
    class Renamed:
        _run_storage = SimpleNamespace(_engine=None)
        _event_log_storage = SimpleNamespace(_connection_engine=object())

    problem = private_names_problem(Renamed())
    assert "_schedule_storage" in problem and "_run_storage._engine" in problem
    assert "_event_log_storage._engine" in problem and "storage: postgres:" in problem


def test_the_grouped_stale_count_agrees_with_reading_each_partition_on_postgres(
    postgres_env, tmp_path, folders, monkeypatch, retrained_model_root
):
    with DagsterInstance.from_config(pooled_home(tmp_path)) as instance:
        instance.wipe()  # the module's tests share one database: the earlier ones' scored files would count too
        grouped_count_agrees_with_reading_each_partition(instance, folders, monkeypatch, tmp_path, retrained_model_root)
