"""Dagster's PostgreSQL instance storage, with each process keeping its connections open.

dagster-postgres opens a new connection for every query except in the webserver (SQLAlchemy's
``NullPool``, so that many instance objects in one process never pile up idle connections). A
scoring run makes ~275 queries, so it paid for ~275 connections: a server backend forked and a
SCRAM password handshake for each, ~4.4 ms apiece on 127.0.0.1, over a second of every run.

``PooledPostgresStorage`` is the same storage (same tables, same config schema; a drop-in for
``storage: postgres:``, see deploy/dagster.postgres.yaml) whose run, event log and schedule
storages each keep one connection per process, as the webserver's
``optimize_for_webserver`` does, but with no statement timeout (a run's queries must not be cut
off). Up to ``MAX_OVERFLOW`` more are opened when threads need them at once and closed after use;
a kept connection is pinged before it is lent out, so a restarted server costs a reconnect rather
than a failed write, and it is replaced after ``POOL_RECYCLE_SECONDS``.

Every process that opens the instance (webserver, daemon, code server, runs) imports this module,
so each needs this package installed; the Kubernetes config keeps the stock class for that
reason (README, "Beyond one machine").
"""

from __future__ import annotations

from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy.engine import Engine

POOL_SIZE = 1
MAX_OVERFLOW = 20  # dagster-webserver's default --db-pool-max-overflow
POOL_RECYCLE_SECONDS = 3600  # dagster-webserver's default --db-pool-recycle


def pooled_engine(engine: Engine, postgres_url: str, token_provider: Any) -> Engine:
    """An engine to the same server as ``engine`` (a NullPool one) that keeps a connection."""
    settings: dict[str, Any] = {
        "isolation_level": "AUTOCOMMIT",
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
        "pool_recycle": POOL_RECYCLE_SECONDS,
        "pool_pre_ping": True,
    }
    options = engine.url.query.get("options")
    if options:  # the config's `params` (as dagster-postgres passes them when it pools)
        settings["connect_args"] = {"options": options}
    return create_pg_engine(postgres_url, token_provider, **settings)


class PooledPostgresStorage(DagsterPostgresStorage):
    """``storage: postgres:`` with one kept connection per storage and process (module docstring)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            unpooled = storage._engine
            storage._engine = pooled_engine(unpooled, postgres_url, token_provider)
            unpooled.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> PooledPostgresStorage:
        return cls(
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )
