"""The AWS fixtures: the session's moto server, and a counting forwarder in front of it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.support.fixtures import running
from tests.support.moto import Forwarder, MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the whole session (tests use unique secret names), stopped at the end."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    # moto's server logs each request line through werkzeug; the tests read their own logs.
    werkzeug.setLevel(logging.WARNING)
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()
        werkzeug.setLevel(level)


@pytest.fixture
def moto_forwarder(moto_server: MotoServer) -> Iterator[Forwarder]:
    """A fresh counting forwarder in front of the session's moto server, for one test."""
    with running(lambda: Forwarder(moto_server)) as forwarder:
        yield forwarder
