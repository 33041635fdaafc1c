"""Vault's transport under attack: redirects, forked workers, concurrent first loads, deadlines."""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from nova_config import NovaSettings, SettingsError
from nova_config.sources import vault_logins
from tests.support.capture import CaptureServer
from tests.support.child import run_child, run_without_dns
from tests.support.data import VAULT_CANARY_KEY, VAULT_SECRETS
from tests.support.helpers import log_in_with_approle, write
from tests.support.openbao import APPROLE_MOUNT, OpenBao
from tests.support.openbao_tls import TlsOpenBao
from tests.support.redirect import RedirectProxy
from tests.support.tokenreview import KubernetesReviewer
from tests.support.trickle import TricklePart, TrickleServer

pytestmark = pytest.mark.usefixtures("fresh_logins")

SCRIPT = Path(sys.executable).parent / "nova-config"


# --- redirects -----------------------------------------------------------------------------------


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    """A host that a hostile redirect points at; it must never hear from the client."""
    server = CaptureServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxy(openbao: OpenBao) -> Iterator[RedirectProxy]:
    """A redirecting proxy in front of the session server, redirecting nothing until told to."""
    server = RedirectProxy(openbao).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Scene:
    """One redirect test: the server behind the proxy, this test's path, and the process env."""

    openbao: OpenBao
    base: str
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest


@pytest.fixture
def scene(
    openbao: OpenBao,
    proxy: RedirectProxy,
    base: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Scene:
    """The process reads this test's one path through the proxy, with the root token."""
    monkeypatch.setenv("VAULT_ADDR", proxy.addr)
    monkeypatch.setenv("VAULT_TOKEN", openbao.root_token)
    monkeypatch.setenv("NOVA_VAULT_PATH", base)
    return Scene(openbao, base, monkeypatch, request)


# Each request kind that can be redirected: it arranges the load so that the request is made,
# and returns the path prefix of that request and the credentials it carries.
Arrange = Callable[[Scene], tuple[str, tuple[str, ...]]]


def approle_login(scene: Scene) -> tuple[str, tuple[str, ...]]:
    """The AppRole login, whose body carries role_id and secret_id."""
    scene.openbao.write_kv2(scene.base, VAULT_SECRETS)
    role_id, secret_id = log_in_with_approle(scene.openbao, scene.base, scene.monkeypatch)
    return f"/v1/auth/{APPROLE_MOUNT}/login", (role_id, secret_id)


def kubernetes_login(scene: Scene) -> tuple[str, tuple[str, ...]]:
    """The Kubernetes login, whose body carries the service-account JWT."""
    reviewer: KubernetesReviewer = scene.request.getfixturevalue("kubernetes_reviewer")
    jwt = reviewer.service_account_jwt()
    scene.monkeypatch.delenv("VAULT_TOKEN")
    scene.monkeypatch.setenv("VAULT_K8S_ROLE", reviewer.role)
    scene.monkeypatch.setenv("VAULT_K8S_MOUNT", reviewer.mount)
    token_path = write(Path.cwd() / "sa" / "token", jwt)  # cwd: the test's tmp_path
    scene.monkeypatch.setenv("VAULT_K8S_TOKEN_PATH", str(token_path))
    return f"/v1/auth/{reviewer.mount}/login", (jwt,)


def lookup_self(scene: Scene) -> tuple[str, tuple[str, ...]]:
    """The token lookup that follows a denied read, carrying X-Vault-Token."""
    scene.openbao.write_kv2(scene.base, VAULT_SECRETS)
    token = scene.openbao.token(["nova-no-such-policy"])  # every read is denied
    scene.monkeypatch.setenv("VAULT_TOKEN", token)
    return "/v1/auth/token/lookup-self", (token,)


def kv_read(scene: Scene) -> tuple[str, tuple[str, ...]]:
    """The KV v2 read, carrying X-Vault-Token."""
    scene.openbao.write_kv2(scene.base, VAULT_SECRETS)
    return f"/v1/secret/data/{scene.base}", (scene.openbao.root_token,)


def mount_lookup(scene: Scene) -> tuple[str, tuple[str, ...]]:
    """The mount lookup made when no path is found (KV v1 or v2?), carrying X-Vault-Token."""
    return "/v1/sys/internal/ui/mounts/secret", (scene.openbao.root_token,)


def problems_text(error: SettingsError) -> str:
    """The error's message, repr and every problem: what a user or a log could see."""
    return "\n".join([str(error), repr(error), *(repr(p) for p in error.problems)])


def assert_refused_unsent(
    error: SettingsError, capture: CaptureServer, credentials: tuple[str, ...]
) -> None:
    """A refused redirect: named in the error, nothing reached the other host, no credential."""
    assert capture.received == b""
    assert capture.connections == 0
    text = problems_text(error)
    assert error.problems[0].kind == "source"
    assert "redirect" in error.problems[0].message.lower()
    for credential in credentials:
        assert credential not in text


@pytest.mark.parametrize(
    "arrange", [approle_login, kubernetes_login, lookup_self, kv_read, mount_lookup]
)
def test_a_redirect_to_another_host_is_refused_and_no_credential_leaves(
    arrange: Arrange, scene: Scene, proxy: RedirectProxy, capture: CaptureServer
) -> None:
    """A 307 to another host fails production naming the redirect; that host gets zero bytes.

    Fault injection at the HTTP layer: the proxy in front of the dev server answers one kind of
    request with `307 Location: http://127.0.0.1:<capture port>/...`.
    """
    prefix, credentials = arrange(scene)
    proxy.redirect(prefix, to=capture.url)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert proxy.redirects_sent >= 1
    assert_refused_unsent(excinfo.value, capture, credentials)


@pytest.mark.parametrize("status", [301, 302, 303, 308])
def test_every_redirect_status_to_another_host_is_refused(
    status: int, scene: Scene, proxy: RedirectProxy, capture: CaptureServer
) -> None:
    """301, 302, 303 and 308 on the AppRole login, like 307: refused, that host gets nothing."""
    prefix, credentials = approle_login(scene)
    proxy.redirect(prefix, to=capture.url, status=status)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert proxy.redirects_sent == 1
    assert_refused_unsent(excinfo.value, capture, credentials)


def test_a_location_that_parsers_read_differently_is_not_followed_elsewhere(
    scene: Scene, proxy: RedirectProxy, capture: CaptureServer
) -> None:
    """`http://<capture>\\@<VAULT_ADDR's host:port>/...`: nothing reaches the capture host.

    urlsplit reads the part before `\\@` as a user name (so the host looks like VAULT_ADDR's),
    while requests and urllib3, as browsers do, end the host at the backslash.
    """
    prefix, credentials = approle_login(scene)
    capture_authority = capture.url.removeprefix("http://")
    proxy_authority = proxy.addr.removeprefix("http://")
    proxy.redirect(prefix, to=f"http://{capture_authority}\\@{proxy_authority}")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert proxy.redirects_sent >= 1
    assert_refused_unsent(excinfo.value, capture, credentials)


def test_a_redirect_of_the_token_renewal_to_another_host_is_refused_and_sends_it_nothing(
    scene: Scene, openbao: OpenBao, proxy: RedirectProxy, capture: CaptureServer
) -> None:
    """renew-self redirected to another host: refused, and the token never reaches that host."""
    openbao.write_kv2(scene.base, VAULT_SECRETS)
    role_id, secret_id = openbao.approle([f"secret/data/{scene.base}"], token_ttl="2s")
    scene.monkeypatch.delenv("VAULT_TOKEN")
    scene.monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    scene.monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    NovaSettings(environment="production")
    time.sleep(1.7)  # past 80% of the 2 s TTL: the next load renews the token
    proxy.redirect("/v1/auth/token/renew-self", to=capture.url)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert proxy.redirects_sent == 1
    assert_refused_unsent(excinfo.value, capture, (role_id, secret_id))


@pytest.mark.parametrize("arrange", [approle_login, kv_read])
def test_one_redirect_to_the_same_address_is_followed(
    arrange: Arrange, scene: Scene, proxy: RedirectProxy
) -> None:
    """A 307 back to VAULT_ADDR itself (same scheme, host and port) is followed once."""
    prefix, _ = arrange(scene)
    proxy.redirect(prefix, times=1)
    settings = NovaSettings(environment="production")
    assert settings.alpaca_api_key.get_secret_value() == VAULT_CANARY_KEY
    assert proxy.redirects_sent == 1
    assert proxy.requests_for(prefix) == 2  # the redirected request, then the one followed


@pytest.mark.parametrize("arrange", [approle_login, kv_read])
def test_a_second_redirect_is_refused_even_to_the_same_address(
    arrange: Arrange, scene: Scene, openbao: OpenBao, proxy: RedirectProxy
) -> None:
    """Two 307s in a row, both back to VAULT_ADDR: the second is refused, naming the redirect."""
    prefix, credentials = arrange(scene)
    proxy.redirect(prefix, times=2)
    mark = openbao.audit_mark()
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert "redirect" in excinfo.value.problems[0].message.lower()
    assert proxy.redirects_sent == 2
    assert openbao.requests_since(mark, prefix.removeprefix("/v1/")) == []
    for credential in credentials:
        assert credential not in problems_text(excinfo.value)


@pytest.fixture
def tls_proxy(openbao: OpenBao, tls_openbao: TlsOpenBao) -> Iterator[RedirectProxy]:
    """An https proxy (the TLS dev server's certificate for 127.0.0.1) in front of `openbao`."""
    certificate = (tls_openbao.cert_dir / "vault-cert.pem", tls_openbao.cert_dir / "vault-key.pem")
    server = RedirectProxy(openbao, tls=certificate).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def approle_over_https(
    tls_proxy: RedirectProxy,
    tls_openbao: TlsOpenBao,
    openbao: OpenBao,
    base: str,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, str]:
    """The process logs in with AppRole through the https proxy, trusting its CA; the ids."""
    openbao.write_kv2(base, VAULT_SECRETS)
    monkeypatch.setenv("VAULT_ADDR", tls_proxy.addr)
    monkeypatch.setenv("VAULT_TOKEN", openbao.root_token)
    monkeypatch.setenv("VAULT_CACERT", str(tls_openbao.ca_path))
    monkeypatch.setenv("NOVA_VAULT_PATH", base)
    return log_in_with_approle(openbao, base, monkeypatch)


def test_a_redirect_from_https_to_http_is_refused(
    tls_proxy: RedirectProxy, approle_over_https: tuple[str, str]
) -> None:
    """An https Vault redirecting the AppRole login to http on its own host and port: refused.

    Fault injection at the HTTP layer: a TLS-terminating proxy answers the login with a 307 to
    `http://` on the same host and port. A plain-http request there would fail its handshake;
    none does, so the secret_id never crossed in clear text.
    """
    assert NovaSettings(environment="production").source_of("alpaca_api_key").source == "vault"
    vault_logins.forget_logins()
    plain = "http://" + tls_proxy.addr.removeprefix("https://")
    tls_proxy.redirect(f"/v1/auth/{APPROLE_MOUNT}/login", to=plain)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert "https to http" in excinfo.value.problems[0].message
    assert tls_proxy.redirects_sent == 1
    assert tls_proxy.handshake_failures == 0
    for credential in approle_over_https:
        assert credential not in problems_text(excinfo.value)


def test_a_redirect_from_https_to_another_http_host_sends_it_nothing(
    tls_proxy: RedirectProxy, approle_over_https: tuple[str, str], capture: CaptureServer
) -> None:
    """An https Vault redirecting the AppRole login to a plain-http host: refused, zero bytes."""
    tls_proxy.redirect(f"/v1/auth/{APPROLE_MOUNT}/login", to=capture.url)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert tls_proxy.redirects_sent == 1
    assert_refused_unsent(excinfo.value, capture, approle_over_https)


# --- fork ----------------------------------------------------------------------------------------

KEYS = {"development": "AKDEVELOPMENT000001", "test": "AKTESTENVIRONMENT01"}
THREAD_FORKS = 40  # forked from a second thread while the main thread loads
MAIN_FORKS = 10  # forked from the main thread between its loads
CHILD_LOADS = 2
CHILD_LIMIT = 20.0  # a child still running then is killed (it hangs on a stolen socket)


def _child(write_end: int) -> NoReturn:
    """In a forked child: load `test` a few times, send the keys seen, and exit at once."""
    code = 1
    try:
        seen: list[str] = []
        for _ in range(CHILD_LOADS):
            try:
                settings = NovaSettings(environment="test")
                seen.append(settings.alpaca_api_key.get_secret_value())
            except SettingsError as exc:
                seen.append(f"failed: {exc.problems[0].message}")
        os.write(write_end, json.dumps(seen).encode())
        code = 0
    finally:
        os._exit(code)  # never pytest's teardown, nor atexit handlers, in a child


def _reap(pid: int) -> None:
    """Wait a moment for the child to exit; kill it if it has not."""
    ends = time.monotonic() + 2.0
    while time.monotonic() < ends:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def fork_and_load() -> list[str]:
    """Fork a child that loads the `test` environment; the keys it saw (or why it failed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(write_end)
    os.close(write_end)
    try:
        data = b""
        ends = time.monotonic() + CHILD_LIMIT
        while (left := ends - time.monotonic()) > 0:
            ready, _, _ = select.select([read_end], [], [], left)
            chunk = os.read(read_end, 65536) if ready else b""
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        _reap(pid)
    if not data:
        return ["the child sent nothing (it hung or crashed)"]
    keys: list[str] = json.loads(data)
    return keys


def test_forked_children_and_their_parent_never_see_each_others_environment(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parent loading `development` and forked children loading `test`: zero cross-talk.

    Children are forked from a second thread while the parent's main thread is mid-load
    (its pooled connection busy), and from the main thread between loads.
    """
    for environment, key in KEYS.items():
        at_vault.write_kv2(f"{base}/{environment}", {**VAULT_SECRETS, "alpaca_api_key": key})
    monkeypatch.setenv("NOVA_VAULT_DEADLINE", "5")
    parent: list[str] = []
    children: list[list[str]] = []
    loading = threading.Event()
    forked_mid_load = 0
    done = threading.Event()

    def load_in_parent() -> None:
        loading.set()
        try:
            parent.append(NovaSettings().alpaca_api_key.get_secret_value())
        except SettingsError as exc:
            parent.append(f"failed: {exc.problems[0].message}")
        finally:
            loading.clear()

    def fork_from_a_thread() -> None:
        nonlocal forked_mid_load
        try:
            for _ in range(THREAD_FORKS):
                forked_mid_load += loading.is_set()
                children.append(fork_and_load())
                if children[-1] != [KEYS["test"]] * CHILD_LOADS:
                    break  # one is enough; the others would wait out their deadline too
        finally:
            done.set()

    load_in_parent()  # the parent has a login and a pooled connection before any fork
    forker = threading.Thread(target=fork_from_a_thread, name="forker", daemon=True)
    forker.start()
    while not done.is_set():
        load_in_parent()
    forker.join(timeout=CHILD_LIMIT)
    for _ in range(MAIN_FORKS):
        children.append(fork_and_load())
        load_in_parent()

    assert children == [[KEYS["test"]] * CHILD_LOADS] * (THREAD_FORKS + MAIN_FORKS)
    assert set(parent) == {KEYS["development"]}
    assert forked_mid_load > 0


# --- one login for concurrent first loads --------------------------------------------------------

THREADS = 16


def single_use_approle(server: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Log in with a new AppRole role whose secret_id may be used for one login only."""
    log_in_with_approle(server, base, monkeypatch)  # enables the AppRole mount if need be
    name = f"single-use-{uuid.uuid4().hex[:8]}"
    policy = server.policy(name, [f"secret/data/{base}", f"secret/data/{base}/*"])
    root = server.client()
    try:
        approle = root.auth.approle
        approle.create_or_update_approle(
            name, token_policies=[policy], token_ttl="60s", secret_id_num_uses=1
        )
        role_id = approle.read_role_id(name)["data"]["role_id"]
        secret_id = approle.generate_secret_id(name)["data"]["secret_id"]
    finally:
        root.adapter.close()
    monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)


def test_sixteen_first_loads_at_once_log_in_once_with_a_single_use_secret_id(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 threads loading at once in production share one login: all succeed, one login made."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    single_use_approle(at_vault, base, monkeypatch)
    barrier = threading.Barrier(THREADS)

    def first_load() -> str:
        barrier.wait(timeout=10)
        try:
            settings = NovaSettings(environment="production")
        except SettingsError as exc:
            return f"failed: {exc.problems[0].message}"
        return settings.alpaca_api_key.get_secret_value()

    mark = at_vault.audit_mark()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(first_load) for _ in range(THREADS)]
        outcomes = [future.result(timeout=30) for future in futures]
    assert outcomes == [VAULT_CANARY_KEY] * THREADS
    assert len(at_vault.requests_since(mark, f"auth/{APPROLE_MOUNT}/login")) == 1


# --- deadlines -----------------------------------------------------------------------------------

DEADLINE = 1.0


@pytest.fixture(params=["headers", "body"])
def trickle(request: pytest.FixtureRequest) -> Iterator[TrickleServer]:
    """A server trickling its headers, or its body, one byte every 0.1 s for up to 10 s."""
    part: TricklePart = request.param
    server = TrickleServer(part, interval=0.1, limit=10.0).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_vault_that_trickles_its_answer_is_cut_off_at_the_deadline(
    trickle: TrickleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every byte inside the 0.5 s read timeout, yet the load ends at the 1 s deadline.

    Fault injection at the HTTP layer: the server's answer never ends.
    """
    monkeypatch.setenv("VAULT_ADDR", trickle.url)
    monkeypatch.setenv("VAULT_TOKEN", "s.trickle-token-never-shown")
    monkeypatch.setenv("NOVA_VAULT_DEADLINE", str(DEADLINE))
    monkeypatch.setenv("NOVA_VAULT_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert time.monotonic() - started < DEADLINE + 2
    assert "deadline" in excinfo.value.problems[0].message
    assert "trickle-token" not in problems_text(excinfo.value)
    assert trickle.connections >= 1


def problem_line(output: str, start: str) -> str:
    """The first problem `check` printed whose text begins with `start`."""
    lines = [line.strip() for line in output.splitlines()]
    return next((line for line in lines if line.startswith(f"- {start}")), "")


def child_env(**variables: str) -> dict[str, str]:
    """This test's environment (already cleared of the machine's) plus `variables`."""
    return {**os.environ, **variables}


def test_the_check_script_against_a_trickling_vault_exits_after_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`nova-config check` (the installed script) exits 1 within the deadline + 3 s.

    Fault injection at the HTTP layer: the server trickles its body forever.
    """
    server = TrickleServer("body", interval=0.1, limit=30.0).start()
    try:
        env = child_env(
            VAULT_ADDR=server.url,
            VAULT_TOKEN="s.trickle-token-never-shown",
            NOVA_VAULT_DEADLINE=str(DEADLINE),
            NOVA_VAULT_TIMEOUT="0.5",
            NOVA_ENV="production",
        )
        finished = run_child([str(SCRIPT), "check"], env, limit=DEADLINE + 8)
    finally:
        server.stop()
    finished.assert_failed_within(DEADLINE + 3)
    assert "deadline" in problem_line(finished.output, "vault at ")
    assert server.connections >= 1


def test_a_resolver_that_never_answers_is_bounded_by_the_deadline(tmp_path: Path) -> None:
    """No DNS answer for VAULT_ADDR's host: `check` exits 1 within the deadline + 3 s.

    The child's nameserver receives queries and never answers, so each name lookup would
    take 15 s (three 5 s attempts) without the deadline.
    """
    env = child_env(
        VAULT_ADDR="http://vault.invalid-name.test:8200",
        VAULT_TOKEN="s.dns-token-never-shown",
        NOVA_VAULT_DEADLINE="2",
        NOVA_ENV="production",
    )
    finished = run_without_dns([str(SCRIPT), "check"], env, limit=12.0, workdir=tmp_path)
    finished.assert_failed_within(2 + 3)
    assert "deadline" in problem_line(finished.output, "vault at ")
    assert "dns-token" not in finished.output
    assert finished.dns_queries > 0
