"""Vault HA: VAULT_ADDR as a cluster's nodes, failover, the node that last answered, redirects."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from nova_config import NovaSettings, SettingsError, SourceConfigError
from nova_config.sources.base import LoadContext
from nova_config.sources.vault import VaultSource
from tests.support.capture import CaptureServer
from tests.support.data import VAULT_CANARY_WEBHOOK, VAULT_SECRETS
from tests.support.loopback import HOST, free_port
from tests.support.openbao import OpenBao
from tests.support.openbao_raft import RaftCluster
from tests.support.redirect import RedirectProxy

pytestmark = pytest.mark.usefixtures("fresh_logins")

LOADS = 300
KILL_AT = 100


class DeadNode:
    """A port that accepts connections and closes them unanswered, counting them."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((HOST, 0))
        self._listener.listen(16)
        self.addr = f"http://{HOST}:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def stop(self) -> None:
        self._listener.close()
        self._thread.join(timeout=5)


@pytest.fixture
def dead_node() -> Iterator[DeadNode]:
    """A node that is up but never answers."""
    node = DeadNode()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def seeded(openbao: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch) -> OpenBao:
    """This test's secrets on the session server, read with its root token."""
    openbao.write_kv2(base, VAULT_SECRETS)
    monkeypatch.setenv("VAULT_TOKEN", openbao.root_token)
    monkeypatch.setenv("NOVA_VAULT_PATH", base)
    return openbao


def closed_addr() -> str:
    return f"http://{HOST}:{free_port()}"


def test_a_closed_first_address_loads_from_the_second(
    seeded: OpenBao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused on the first node: the load reads the second, in production."""
    monkeypatch.setenv("VAULT_ADDR", f"{closed_addr()}, {seeded.addr}")
    settings = NovaSettings(environment="production")
    assert settings.discord_webhook_url.get_secret_value() == VAULT_CANARY_WEBHOOK
    assert settings.source_of("discord_webhook_url").source == "vault"


def test_the_address_that_last_answered_is_tried_first_next_time(
    seeded: OpenBao, dead_node: DeadNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load tries the dead first node once; later loads go straight to the second."""
    monkeypatch.setenv("VAULT_ADDR", f"{dead_node.addr},{seeded.addr}")
    NovaSettings(environment="production")
    assert dead_node.connections == 1
    for _ in range(5):
        NovaSettings(environment="production")
    assert dead_node.connections == 1


def test_a_redirect_to_a_node_in_the_list_is_followed(
    seeded: OpenBao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A standby's 307 to another node of the list is followed (once)."""
    proxy = RedirectProxy(seeded).start()
    try:
        proxy.redirect("/v1/secret/data/", to=seeded.addr)
        monkeypatch.setenv("VAULT_ADDR", f"{proxy.addr},{seeded.addr}")
        settings = NovaSettings(environment="production")
        assert settings.discord_webhook_url.get_secret_value() == VAULT_CANARY_WEBHOOK
        assert proxy.redirects_sent == 1
    finally:
        proxy.stop()


def test_a_redirect_outside_the_list_is_refused_and_every_address_is_named(
    seeded: OpenBao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 307 to a host not in the list: refused, nothing sent there, each node named with why."""
    capture = CaptureServer().start()
    proxy = RedirectProxy(seeded).start()
    closed = closed_addr()
    try:
        proxy.redirect("/v1/secret/data/", to=capture.url)
        monkeypatch.setenv("VAULT_ADDR", f"{proxy.addr},{closed}")
        monkeypatch.setenv("NOVA_VAULT_DEADLINE", "1")
        with pytest.raises(SettingsError) as excinfo:
            NovaSettings(environment="production")
        message = excinfo.value.problems[0].message
        assert capture.connections == 0
        assert f"{proxy.addr}: redirected to {capture.url}" in message
        assert f"{closed}: connection refused" in message
        assert seeded.root_token not in str(excinfo.value)
    finally:
        proxy.stop()
        capture.stop()


def test_a_bad_entry_in_the_list_is_a_configuration_error_naming_its_position() -> None:
    """An entry that is not an address is refused, by position, without repeating it."""
    environ = {"VAULT_ADDR": "http://127.0.0.1:8200,http://user:pw@[bad"}
    with pytest.raises(SourceConfigError, match="entry 2 of the comma list") as excinfo:
        VaultSource(LoadContext("production", environ, ()))
    assert "pw" not in str(excinfo.value)


def test_one_address_keys_its_login_as_before() -> None:
    """A single address is a one-node list; its login key and messages are unchanged."""
    environ = {"VAULT_ADDR": "http://127.0.0.1:8200/"}
    config = VaultSource(LoadContext("production", environ, ())).config
    assert config.nodes == ("http://127.0.0.1:8200",)
    assert config.shown == "http://127.0.0.1:8200"


def test_the_cluster_survives_its_leader_killed_mid_loop(
    raft_cluster: RaftCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOADS production loads while the leader is SIGKILLed: none fails, none takes 5 s."""
    raft_cluster.write_kv2("nova-ha", VAULT_SECRETS)
    monkeypatch.setenv("VAULT_ADDR", ",".join(raft_cluster.addrs))
    monkeypatch.setenv("VAULT_TOKEN", raft_cluster.root_token)
    monkeypatch.setenv("NOVA_VAULT_PATH", "nova-ha")
    leader = raft_cluster.leader()
    failures, slowest = 0, 0.0
    for index in range(LOADS):
        if index == KILL_AT:
            leader.kill()
        started = time.monotonic()
        try:
            settings = NovaSettings(environment="production")
        except SettingsError:
            failures += 1
            continue
        slowest = max(slowest, time.monotonic() - started)
        assert settings.discord_webhook_url.get_secret_value() == VAULT_CANARY_WEBHOOK
    assert failures == 0
    assert slowest < 5.0
