"""The kept-alive connections Vault's requests go through: reuse, idle drops, forks, TLS, URLs."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nova_config.sources.connections import KEEP, Connections, TlsError
from nova_config.sources.deadline_io import within
from nova_config.sources.transport import Answer
from tests.support.keepalive import KeepAliveServer

DEADLINE = 10.0


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    started = KeepAliveServer()
    yield started
    started.stop()


@pytest.fixture
def pool() -> Iterator[Connections]:
    connections = Connections()
    yield connections
    connections.close()


def get(pool: Connections, url: str, verify: bool | str = True) -> Answer:
    with within(time.monotonic() + DEADLINE):
        return pool.send("GET", url, {"X-Test": "1"}, None, timeout=5.0, verify=verify, cert=None)


def test_two_requests_to_one_address_share_one_connection(
    pool: Connections, server: KeepAliveServer
) -> None:
    first = get(pool, f"{server.addr}/v1/a")
    second = get(pool, f"{server.addr}/v1/b")
    assert (first.status, second.status) == (200, 200)
    assert second.body == b'{"data": {"ok": true}}'
    assert server.connections == 1
    assert [path for _, path, _ in server.requests] == ["/v1/a", "/v1/b"]


def test_a_connection_the_server_dropped_while_idle_is_not_reused(
    pool: Connections, server: KeepAliveServer
) -> None:
    """Closed by the server after its answer (an idle timeout): the next request opens a new
    one instead of failing on the dead socket."""
    server.drop_idle_connections()
    assert get(pool, f"{server.addr}/v1/a").status == 200
    assert server.wait_closed()
    assert get(pool, f"{server.addr}/v1/a").status == 200
    assert server.connections == 2


def test_the_url_is_quoted_as_requests_quotes_it(
    pool: Connections, server: KeepAliveServer
) -> None:
    get(pool, f"{server.addr}/v1/secret/data/my app/déjà?version=2")
    assert server.requests[-1][1] == "/v1/secret/data/my%20app/d%C3%A9j%C3%A0?version=2"


def test_a_forked_child_opens_its_own_connection(
    pool: Connections, server: KeepAliveServer
) -> None:
    """Through the parent's socket the answers to two processes' requests would cross."""
    assert get(pool, f"{server.addr}/v1/a").status == 200
    pid = os.fork()
    if pid == 0:  # the child: one request, its outcome as the exit status
        try:
            code = 0 if get(pool, f"{server.addr}/v1/child").status == 200 else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert server.connections == 2
    assert get(pool, f"{server.addr}/v1/a").status == 200  # the parent's own still works
    assert server.connections == 2


def test_no_more_than_keep_idle_connections_are_kept_per_address(pool: Connections) -> None:
    key = ("http", "127.0.0.1", 1, True, None)
    spare = [http.client.HTTPConnection("127.0.0.1", 1) for _ in range(KEEP + 2)]
    for connection in spare:
        pool._keep(key, connection)
    assert len(pool._idle[key]) == KEEP


def test_tls_settings_that_cannot_be_loaded_fail_as_tls_without_quoting_the_path(
    pool: Connections, tmp_path: Path
) -> None:
    missing = f"{tmp_path}/canary-ca-path-51c2/ca.pem"
    with pytest.raises(TlsError) as excinfo:
        get(pool, "https://127.0.0.1:1/v1/sys/health", verify=missing)
    assert "canary-ca-path-51c2" not in str(excinfo.value)


def test_an_answer_shows_its_size_not_its_body() -> None:
    answer = Answer(200, None, b'{"password": "canary-answer-9d2e"}')
    assert "canary-answer-9d2e" not in repr(answer)
    assert repr(answer) == "Answer(200, 34 bytes)"
