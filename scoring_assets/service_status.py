"""Is the service alive? The daemon's heartbeats and every running sensor's last tick, for monitoring systems.

``scoring-assets status`` reads them from the instance (``DAGSTER_HOME``): each daemon the
instance needs (sensors, schedules, the run queue) must have sent a heartbeat, and each sensor
that is running (switched on, or on by default and seen by the daemon) must have ticked, within
``max_age_seconds``. Stale or missing means the service is down or stuck: the command exits 1, so
a monitoring system can alert on its exit code alone. A sensor the daemon has never seen is not
listed (nothing to judge yet); a daemon without any heartbeat is stale.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Dagster is imported when the status is read, not when the CLI builds its parser
    import dagster as dg

DEFAULT_MAX_AGE_SECONDS = 180  # the slowest sensor ticks every 60 s; three missed ticks is a stuck daemon


@dataclass(frozen=True)
class Liveness:
    """One daemon's last heartbeat or one sensor's last tick: when, how long ago, and whether that is too long."""

    kind: str  # daemon | sensor
    name: str
    last: str | None  # ISO 8601 UTC; None: never
    age_seconds: float | None
    stale: bool

    def line(self) -> str:
        when = "never" if self.last is None else f"{self.age_seconds:.0f} s ago ({self.last})"
        return f"{'STALE' if self.stale else 'ok':<5} {self.kind:<6} {self.name}: {when}"


def _liveness(kind: str, name: str, timestamp: float | None, now: float, max_age: float) -> Liveness:
    if timestamp is None:
        return Liveness(kind, name, None, None, True)
    age = max(now - timestamp, 0.0)
    last = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
    return Liveness(kind, name, last, round(age, 1), age > max_age)


def service_liveness(instance: dg.DagsterInstance, max_age: float = DEFAULT_MAX_AGE_SECONDS) -> list[Liveness]:
    """Every required daemon's heartbeat, then every running sensor's last tick, judged against ``max_age``."""
    from dagster._core.definitions.run_request import InstigatorType

    now = time.time()
    heartbeats = instance.get_daemon_heartbeats()
    found = [
        _liveness("daemon", daemon, beat.timestamp if (beat := heartbeats.get(daemon)) else None, now, max_age)
        for daemon in sorted(instance.get_required_daemon_types())
    ]
    for state in sorted(instance.all_instigator_state(instigator_type=InstigatorType.SENSOR), key=lambda s: s.name):
        if not state.is_running:
            continue
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
        found.append(_liveness("sensor", state.name, ticks[0].timestamp if ticks else None, now, max_age))
    return found


def status_record(found: list[Liveness], max_age: float) -> dict:
    """What ``status --json`` prints: ``healthy``, ``max_age_seconds``, ``daemons`` and ``sensors``."""
    return {
        "healthy": not any(each.stale for each in found),
        "max_age_seconds": max_age,
        "daemons": [asdict(each) for each in found if each.kind == "daemon"],
        "sensors": [asdict(each) for each in found if each.kind == "sensor"],
    }
