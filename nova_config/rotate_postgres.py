"""A database rotation's PostgreSQL side: connect with a given password, and set the role's
password as a SCRAM-SHA-256 verifier computed here, so that the password never reaches the
server (nor its log, with `log_statement = 'all'`) in plain text.

psycopg's errors are judged in one table by their SQLSTATE or class, never shown as they are:
a message built from a connection string could carry what it was built from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nova_config.errors import MissingExtraError, RotationError
from nova_config.hidden import HiddenStr
from nova_config.rotate import refused
from nova_config.sources.common import seconds

if TYPE_CHECKING:
    import psycopg

TIMEOUT_VARIABLE = "NOVA_DB_TIMEOUT"
DEFAULT_TIMEOUT = 5.0
# libpq waits at least 2 s for a connection, whatever connect_timeout says.
MIN_CONNECT_TIMEOUT = 2
REFUSED = "the password was refused"
_BOUND = "{timeout:g} s (" + TIMEOUT_VARIABLE + ")"
# SQLSTATE -> what it means here.
SQLSTATES = {
    "28P01": REFUSED,
    "28000": "the login was refused (no pg_hba.conf entry for it, or the role may not log in)",
    "42501": "permission denied",
    "57014": "the statement took longer than " + _BOUND,
    "55P03": "a lock was held longer than " + _BOUND,
}
# libpq's connection failures carry no SQLSTATE: these words of its message (read, never
# shown) tell them apart.
CONNECT_FAILURES = (
    ("password authentication failed", REFUSED),
    ("no pg_hba.conf entry", SQLSTATES["28000"]),
    ("timeout expired", "no answer within " + _BOUND),
    ("connection refused", "unreachable (connection refused)"),
    ("could not translate host name", "unreachable (the host name does not resolve)"),
)


def _cause(exc: Exception, timeout: float) -> str:
    """What a psycopg error means, in our words."""
    code = getattr(exc, "sqlstate", None) or ""
    wording = SQLSTATES.get(code)
    if wording is None and not code:
        text = str(exc).lower()
        wording = next((w for words, w in CONNECT_FAILURES if words in text), None)
    if wording is None:
        wording = f"failed ({type(exc).__name__}{f', SQLSTATE {code}' if code else ''})"
    return wording.format(timeout=timeout)


class Database:
    """The app's database as its settings reach it; connects with the password it is given.

    Attributes:
        role: the role the settings log in as, whose password is rotated.
        shown: `role@host:port/database`, for messages (never the password).
        timeout: the bound of each connection and statement (NOVA_DB_TIMEOUT, default 5 s).
    """

    def __init__(self, dsn: str, environ: Mapping[str, str]) -> None:
        try:
            from psycopg import Error  # noqa: PLC0415 - the driver only for a database rotation
            from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - same
        except ImportError:
            raise MissingExtraError(
                "rotate --database needs psycopg: pip install 'nova-config[rotation]'"
            ) from None
        self._dsn = HiddenStr(dsn)
        self.timeout = seconds(environ, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)
        try:
            parts = conninfo_to_dict(self._dsn)
        except Error:
            parts = None  # its message may quote the URL, password included
        if parts is None:
            raise refused("the database URL of the settings cannot be parsed")
        self.role = str(parts.get("user") or "")
        host = str(parts.get("host") or "localhost")
        self.shown = f"{self.role}@{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"

    def failure(self, cause: str, doing: str) -> RotationError:
        """The project's error, naming the database and what was being done."""
        return refused(f"database at {self.shown}: {doing}: {cause}")

    def _open(self, password: HiddenStr) -> tuple[psycopg.Connection[Any] | None, str]:
        """A connection with `password` instead of the settings' own, every wait bounded;
        or None and why not."""
        import psycopg  # noqa: PLC0415 - the driver only for a database rotation

        bound = math.ceil(self.timeout * 1000)
        connect_timeout = max(MIN_CONNECT_TIMEOUT, math.ceil(self.timeout))
        connection = None
        try:
            connection = psycopg.connect(
                self._dsn,
                password=password,
                autocommit=True,
                connect_timeout=connect_timeout,
                tcp_user_timeout=bound,  # a network that drops packets mid-statement
                application_name="nova-config rotate",
            )
            statement = psycopg.sql.SQL("SET statement_timeout = {0}; SET lock_timeout = {0}")
            connection.execute(statement.format(psycopg.sql.Literal(bound)))
        except psycopg.Error as exc:
            if connection is not None:
                connection.close()
            # A connection not made in time waited libpq's bound, at least 2 s.
            bound_s = self.timeout if connection is not None else connect_timeout
            return None, _cause(exc, bound_s)
        return connection, ""

    def connect(self, password: str) -> psycopg.Connection[Any]:
        """A connection with `password` instead of the settings' own, every wait bounded.

        Raises:
            RotationError: the connection failed (refused, unreachable, no answer in time).
        """
        password = HiddenStr(password)  # this frame's local, as error trackers record it
        connection, cause = self._open(password)
        if connection is None:
            raise self.failure(cause, "connecting")
        return connection

    def accepts(self, password: str) -> bool:
        """Whether a new connection with `password` is accepted and answers `SELECT 1`.

        Raises:
            RotationError: the database cannot tell: unreachable, no answer in time.
        """
        import psycopg  # noqa: PLC0415 - the driver only for a database rotation

        password = HiddenStr(password)  # this frame's local, as error trackers record it
        connection, cause = self._open(password)
        if connection is None:
            if cause == REFUSED:
                return False
            raise self.failure(cause, "connecting")
        cause = ""
        with connection:
            try:
                connection.execute("SELECT 1")
            except psycopg.Error as exc:
                cause = _cause(exc, self.timeout)
        if cause:
            raise self.failure(cause, "testing the connection")
        return True

    def set_password(self, connection: psycopg.Connection[Any], password: str) -> None:
        """`ALTER ROLE <the connection's role> PASSWORD '<its SCRAM-SHA-256 verifier>'`.

        libpq computes the verifier (PQencryptPasswordConn, with a random salt) on this side;
        the server stores it as it is, and never sees the password.

        Raises:
            RotationError: the statement failed (permission denied, time out, connection lost).
        """
        import psycopg  # noqa: PLC0415 - the driver only for a database rotation
        from psycopg import sql  # noqa: PLC0415 - same

        password = HiddenStr(password)  # this frame's local, as error trackers record it
        cause = ""
        try:
            role = connection.info.user
            verifier = HiddenStr(
                connection.pgconn.encrypt_password(
                    password.encode(), role.encode(), b"scram-sha-256"
                ).decode()
            )
            statement = sql.SQL("ALTER ROLE {} PASSWORD {}")
            connection.execute(statement.format(sql.Identifier(role), sql.Literal(verifier)))
        except psycopg.Error as exc:
            cause = _cause(exc, self.timeout)
        if cause:
            raise self.failure(cause, "setting the password")


__all__ = ["DEFAULT_TIMEOUT", "TIMEOUT_VARIABLE", "Database"]
