"""The database fixture: the session's PostgreSQL server, started once and stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fixtures import running
from tests.support.postgres import Postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the session (tests use roles of their own), SCRAM over TCP."""
    with running(Postgres) as server:
        yield server
