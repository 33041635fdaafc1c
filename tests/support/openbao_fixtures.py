"""The Vault fixtures: the session's OpenBao dev servers and what runs beside them, and the
process pointed at them. Started once per session (the fault proxy once per test)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from nova_config.sources import vault_logins
from tests.support.fault_proxy import FaultProxy
from tests.support.fixtures import running
from tests.support.helpers import point_at
from tests.support.openbao import Namespace, OpenBao, SealedOpenBao
from tests.support.openbao_tls import TlsOpenBao
from tests.support.tokenreview import KubernetesReviewer


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """The session's OpenBao dev server (audit log, KV v2 at secret/, KV v1 at kv1/)."""
    with running(lambda: OpenBao(tmp_path_factory.mktemp("openbao"))) as server:
        yield server


@pytest.fixture(scope="session")
def sealed_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealedOpenBao]:
    """A sealed OpenBao dev server, one for the session (no test is given its unseal key)."""
    # Session scope: starting and sealing a server takes ~0.7 s, and nothing can unseal it
    # without the key, so every test sees it sealed.
    with running(lambda: SealedOpenBao(tmp_path_factory.mktemp("openbao-sealed"))) as server:
        yield server


@pytest.fixture(scope="session")
def kubernetes_reviewer(openbao: OpenBao) -> Iterator[KubernetesReviewer]:
    """Kubernetes auth configured on `openbao`, reviewed by the local TokenReview stand-in."""
    with running(lambda: KubernetesReviewer(openbao)) as reviewer:
        yield reviewer


@pytest.fixture(scope="session")
def tls_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsOpenBao]:
    """A dev server serving https only, with its own dev CA (`ca_path`), one for the session."""
    with running(lambda: TlsOpenBao(tmp_path_factory.mktemp("openbao-tls"))) as server:
        yield server


@pytest.fixture(scope="session")
def team_a(openbao: OpenBao) -> Iterator[Namespace]:
    """Namespace "team-a" on `openbao`, with KV v2 at `secret/` inside it."""
    with contextlib.closing(Namespace(openbao, "team-a")) as namespace:
        yield namespace


@pytest.fixture
def fault_proxy(openbao: OpenBao) -> Iterator[FaultProxy]:
    """A fault-injection proxy in front of `openbao`, injecting nothing until told to."""
    with running(lambda: FaultProxy(openbao)) as proxy:
        yield proxy


@pytest.fixture
def fresh_logins() -> Iterator[None]:
    """Every test starts without a cached Vault client, so logins and reads are counted."""
    vault_logins.forget_logins()
    yield
    vault_logins.forget_logins()


@pytest.fixture
def base() -> str:
    """A path prefix of this test's own, on the shared server."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def at_vault(openbao: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch) -> OpenBao:
    """The process points at the session server with the root token and this test's paths."""
    return point_at(openbao, base, monkeypatch)
