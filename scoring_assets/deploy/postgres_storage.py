"""Dagster's PostgreSQL instance storage, with each process keeping its connections open.

dagster-postgres opens a new connection for every query except in the webserver (SQLAlchemy's
``NullPool``, so that many instance objects in one process never pile up idle connections). A
scoring run makes ~275 queries, so it paid for ~275 connections: a server backend forked and a
SCRAM password handshake for each, ~4.4 ms apiece on 127.0.0.1, over a second of every run.

``PooledPostgresStorage`` is the same storage (same tables, same config schema; a drop-in for
``storage: postgres:``, see deploy/dagster.postgres.yaml) whose run, event log and schedule
storages each keep one connection per process, as the webserver's
``optimize_for_webserver`` does, but with no statement timeout (a run's queries must not be cut
off). Up to ``MAX_OVERFLOW`` more are opened when threads need them at once and closed after
use (a query beyond those waits for one, 30 s at most); a kept connection is pinged before it is
lent out, so a restarted server costs a reconnect rather than a failed write, and it is replaced
after ``POOL_RECYCLE_SECONDS``.

The kept connections belong to the process, not to an instance object: Dagster makes a new
instance for every sensor evaluation in the code server and never closes its storages' engines
(``dispose`` leaves them to the garbage collector), so engines held per instance would leave up to
three idle sessions behind every tick. Every instance of one server in one process shares the
same three engines; a forked child makes its own (they are keyed by process id), and they are
closed at exit. With ``auth_provider`` (cloud IAM tokens injected per connection) the storage
stays stock, one connection per query, since a kept connection would outlive its token.

Every process that opens the instance (webserver, daemon, code server, runs) imports this module,
so each needs this package installed; the Kubernetes config keeps the stock class for that
reason (docs/deployment.md, "Beyond one machine").
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy.engine import Engine

# What this module relies on that dagster-postgres does not promise (private names): the three storages
# DagsterPostgresStorage holds, and the SQLAlchemy engine each keeps. ``private_names_problem`` checks them.
INNER_STORAGES = ("_run_storage", "_event_log_storage", "_schedule_storage")
ENGINE_ATTRIBUTE = "_engine"

POOL_SIZE = 1
MAX_OVERFLOW = 20  # dagster-webserver's default --db-pool-max-overflow
POOL_RECYCLE_SECONDS = 3600  # dagster-webserver's default --db-pool-recycle


ProcessEngineKey = tuple[int, str, str, str | tuple[str, ...]]
_process_engines: dict[ProcessEngineKey, Engine] = {}
_process_engines_lock = threading.Lock()  # the daemon's and code server's threads make instances


def pooled_engine(postgres_url: str, options: str | tuple[str, ...]) -> Engine:
    """An engine to ``postgres_url`` that keeps a connection, with the connection ``options``."""
    settings: dict[str, Any] = {
        "isolation_level": "AUTOCOMMIT",
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
        "pool_recycle": POOL_RECYCLE_SECONDS,
        "pool_pre_ping": True,
    }
    if options:
        settings["connect_args"] = {"options": options}
    return create_pg_engine(postgres_url, **settings)


def process_engine(storage_kind: str, unpooled: Engine, postgres_url: str) -> Engine:
    """This process's pooled engine for one kind of storage on one server, made on first use.

    ``unpooled`` is dagster-postgres's NullPool engine, whose URL carries the config's ``params``
    as ``options`` (as dagster-postgres passes them when it pools).
    """
    options = unpooled.url.query.get("options") or ""
    key = (os.getpid(), storage_kind, postgres_url, options)
    with _process_engines_lock:
        if key not in _process_engines:
            _process_engines[key] = pooled_engine(postgres_url, options)
        return _process_engines[key]


@atexit.register
def close_process_engines() -> None:
    """Close this process's kept connections; leave a forked parent's sockets to the parent.

    Called at exit (and by tests between cases). Instances still open keep working on their
    engines, which open connections again as needed, but those are no longer closed here.
    """
    with _process_engines_lock:
        for (process_id, *_), engine in list(_process_engines.items()):
            engine.dispose(close=process_id == os.getpid())
        _process_engines.clear()


class PooledPostgresStorage(DagsterPostgresStorage):
    """``storage: postgres:`` with one kept connection per storage kind and process (module docstring)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        if token_provider is not None:
            return  # a kept connection would outlive its token (module docstring)
        problem = private_names_problem(self)
        if problem:
            raise RuntimeError(problem)
        for storage in (getattr(self, name) for name in INNER_STORAGES):
            unpooled = storage._engine
            storage._engine = process_engine(type(storage).__name__, unpooled, postgres_url)
            unpooled.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> PooledPostgresStorage:
        return cls(
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )


def private_names_problem(storage: DagsterPostgresStorage) -> str | None:
    """What is missing of the private names this module swaps engines through, or None when all are there.

    A dagster-postgres upgrade may rename them without a word; this says so loudly, naming them,
    instead of leaving the stock connection-per-query storage in place or failing somewhere else.
    """
    missing = [name for name in INNER_STORAGES if not hasattr(storage, name)]
    missing += [
        f"{name}.{ENGINE_ATTRIBUTE}"
        for name in INNER_STORAGES
        if hasattr(storage, name) and not isinstance(getattr(getattr(storage, name), ENGINE_ATTRIBUTE, None), Engine)
    ]
    if not missing:
        return None
    return (
        f"scoring_assets.deploy.postgres_storage relies on private names of dagster-postgres that this version "
        f"lacks: {', '.join(missing)}. Use `storage: postgres:` (the stock storage) in dagster.yaml, or adapt "
        "PooledPostgresStorage to the new version."
    )
