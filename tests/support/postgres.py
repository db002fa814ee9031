"""A throwaway PostgreSQL server on loopback, for tests and benchmarks that need real instance storage.

``temporary_postgres()`` finds Debian's server binaries (``/usr/lib/postgresql/<version>/bin``),
installs the ``postgresql`` package with apt-get when they are missing (without letting the
package create or start a cluster of its own), runs ``initdb`` in a fresh temporary folder,
starts ``postgres`` on 127.0.0.1 at a free port (its Unix socket in that folder too, never in
``/var/run/postgresql``), creates a database with a password-protected user, yields the
connection settings, and on exit stops the server by its PID and removes the folder.

PostgreSQL refuses to run as root: as root, the server and ``initdb`` run as the ``postgres``
system user (the package's; created if missing), started directly under that user id so the PID
held is the server's own (no ``su``/``runuser`` in between). Every server process works in the
data folder (backends ``setsid()``, so a process group would not hold them): the stop finds them
by their working directory and makes sure none outlives the postmaster. When the server cannot
be had (no binaries and no way to install them) ``PostgresUnavailable`` says exactly why.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.dev_server import free_port

DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVER_PROGRAMS = ("initdb", "postgres", "pg_isready", "createdb", "psql")
SERVICE_USER = "postgres"
# Read by Debian's postgresql-common when the server package is installed: without it, the install
# creates a cluster "main" and starts it on port 5432, a server this module did not start.
CREATECLUSTER_CONF = Path("/etc/postgresql-common/createcluster.conf")
APT_TIMEOUT_SECONDS = 900
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server and how to reach it."""

    host: str
    port: int
    username: str
    password: str
    database: str
    pid: int
    bin_dir: Path
    data_dir: Path

    def dagster_env(self) -> dict[str, str]:
        """The variables deploy/dagster.postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.username,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.database,
        }

    def client_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C"}

    def psql(self, sql: str) -> str:
        """Run ``sql`` with psql over TCP, as the server's user; unaligned, tuples only."""
        command = [
            str(self.bin_dir / "psql"),
            *("-h", self.host, "-p", str(self.port), "-U", self.username, "-d", self.database),
            *("-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql),
        ]
        return _run_tool(command, env=self.client_env(), timeout=60).stdout.strip()

    def process_ids(self) -> list[int]:
        """Every live process of the server: the postmaster and all its backends."""
        return server_processes(self.data_dir)


def server_processes(data_dir: Path) -> list[int]:
    """Live processes working in ``data_dir``: a postmaster and its children all chdir there."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cwd == str(data_dir) and state != "Z":
            members.append(int(entry.name))
    return members


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def find_server_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has every program needed, or None."""
    candidates = [
        path
        for path in DEBIAN_POSTGRES_ROOT.glob("*/bin")
        if all((path / program).is_file() and os.access(path / program, os.X_OK) for program in SERVER_PROGRAMS)
    ]
    return max(candidates, key=_version_key) if candidates else None


def install_postgresql() -> None:
    """``apt-get install postgresql``, non-interactively, without a cluster of the package's own."""
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL server binaries are not installed (no /usr/lib/postgresql/*/bin/initdb) and this process "
            "is not root, so it cannot install them: run `apt-get install postgresql` as root"
        )
    if shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries are not installed (no /usr/lib/postgresql/*/bin/initdb) and there is no "
            "apt-get to install them with"
        )
    if not CREATECLUSTER_CONF.exists():
        CREATECLUSTER_CONF.parent.mkdir(parents=True, exist_ok=True)
        CREATECLUSTER_CONF.write_text("# scoring-assets' tests: no default cluster\ncreate_main_cluster = false\n")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "UCF_FORCE_CONFFOLD": "1", "LC_ALL": "C"}
    keep_our_conf = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    wait_for_lock = ["-o", "DPkg::Lock::Timeout=300"]
    for command in (
        ["apt-get", *wait_for_lock, "update"],
        ["apt-get", *wait_for_lock, *keep_our_conf, "install", "-y", "--no-install-recommends", "postgresql"],
    ):
        try:
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise PostgresUnavailable(f"`{' '.join(command)}` did not finish within {APT_TIMEOUT_SECONDS} s") from None
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise PostgresUnavailable(f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{tail}")


def server_binaries() -> Path:
    bin_dir = find_server_binaries()
    if bin_dir is None:
        install_postgresql()
        bin_dir = find_server_binaries()
    if bin_dir is None:
        raise PostgresUnavailable(
            f"`apt-get install postgresql` succeeded but no {DEBIAN_POSTGRES_ROOT}/<version>/bin has "
            f"{', '.join(SERVER_PROGRAMS)}"
        )
    return bin_dir


def service_account() -> pwd.struct_passwd | None:
    """The user the server runs as: None for this process's own user, the ``postgres`` system user as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", SERVICE_USER], check=True)
        return pwd.getpwnam(SERVICE_USER)


def _as_account(account: pwd.struct_passwd | None) -> dict:
    """``subprocess`` arguments that run the child under ``account`` (nothing for this process's own user)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _stop_with_parent() -> None:
    """In the server's child process: fast shutdown (SIGINT) when the process that started it dies.

    A test process killed outright (SIGKILL, OOM) never reaches its ``finally``; without this
    its server would run on. Runs after the switch to the server's user, which would clear it.
    """
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def _chown_tree(root: Path, account: pwd.struct_passwd | None) -> None:
    if account is None:
        return
    for folder, subfolders, files in os.walk(root):
        for name in [folder, *(os.path.join(folder, item) for item in subfolders + files)]:
            os.chown(name, account.pw_uid, account.pw_gid)


@contextmanager
def temporary_postgres(
    database: str = "scoring", username: str = "scoring", start_timeout: float = 60
) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server on 127.0.0.1 for the duration of the ``with`` block; stopped by PID after it."""
    bin_dir = server_binaries()
    account = service_account()
    base = Path(tempfile.mkdtemp(prefix="scoring-postgres-")).resolve()  # not pytest's tmp_path: root-only
    data_dir, password = base / "data", secrets.token_urlsafe(16)
    password_file = base / "password"
    password_file.write_text(password + "\n")
    _chown_tree(base, account)
    child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    process: subprocess.Popen | None = None
    try:
        _run_tool(
            [
                str(bin_dir / "initdb"),
                *("-D", str(data_dir), "-U", username, f"--pwfile={password_file}"),
                *("--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C"),
            ],
            cwd=base,
            env=child_env,
            timeout=120,
            **_as_account(account),
        )
        password_file.unlink()
        port = free_port()
        log = open(base / "postgres.log", "wb")  # noqa: SIM115 - the server's for its lifetime
        process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                *("-D", str(data_dir), "-p", str(port)),
                *("-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={base}"),
                # A test server: durability is not the point, speed on a shared 2-core machine is.
                *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            ],
            cwd=base,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_stop_with_parent,
            **_as_account(account),
        )
        log.close()
        server = PostgresServer("127.0.0.1", port, username, password, database, process.pid, bin_dir, data_dir)
        _wait_until_ready(server, process, base / "postgres.log", start_timeout)
        _run_tool(
            [str(bin_dir / "createdb"), "-h", server.host, "-p", str(port), "-U", username, database],
            env=server.client_env(),
            timeout=60,
        )
        yield server
    finally:
        if process is not None:
            stop_server(process, data_dir)
        shutil.rmtree(base, ignore_errors=True)


def _run_tool(command: list[str], timeout: float, **options) -> subprocess.CompletedProcess:
    """Run a PostgreSQL client or server tool; a failure raises RuntimeError naming the tool and what it printed."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **options)
    if result.returncode != 0:
        output = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part.strip())
        raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {output}")
    return result


def _wait_until_ready(server: PostgresServer, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        ready = subprocess.run(
            [str(server.bin_dir / "pg_isready"), "-q", "-h", server.host, "-p", str(server.port)],
            env=server.client_env(),
            check=False,
            timeout=30,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    raise TimeoutError(f"postgres did not accept connections within {timeout:.0f} s:\n{log_path.read_text()}")


def stop_server(process: subprocess.Popen, data_dir: Path, grace_seconds: float = 20) -> None:
    """Stop the server by its PID and make sure none of its processes remain.

    SIGTERM (smart shutdown: waits for clients), then SIGINT (fast shutdown: ends them), then
    SIGKILL to the postmaster and every backend left.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        if process.poll() is not None:
            break
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            continue
    deadline = time.monotonic() + grace_seconds
    while left := server_processes(data_dir):
        if process.poll() is not None and time.monotonic() < deadline:
            time.sleep(0.1)  # backends notice the postmaster is gone and exit
            continue
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    if process.poll() is None:
        process.wait(timeout=10)
