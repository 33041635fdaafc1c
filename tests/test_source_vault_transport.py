"""The Vault source's transport against real OpenBao servers: TLS, namespaces, retried answers."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from nova_config import NovaSettings, SettingsError
from nova_config.sources import vault_auth, vault_logins
from tests.support.data import VAULT_CANARY_KEY, VAULT_SECRETS
from tests.support.fault_proxy import FaultProxy
from tests.support.helpers import log_in_with_approle, point_at
from tests.support.keepalive import KeepAliveServer
from tests.support.openbao import Namespace, OpenBao
from tests.support.openbao_tls import TlsOpenBao

pytestmark = pytest.mark.usefixtures("fresh_logins")

# --- TLS, namespaces, and busy answers retried ---------------------------------------------------

PRODUCTION_FAILS = "(the default in production is to fail)"
TLS_FAILED = "TLS handshake failed; check VAULT_CACERT"


@pytest.fixture
def at_tls_vault(tls_openbao: TlsOpenBao, base: str, monkeypatch: pytest.MonkeyPatch) -> TlsOpenBao:
    """The process points at the https server with the root token and this test's paths, no CA."""
    return point_at(tls_openbao, base, monkeypatch)


def test_https_vault_loads_with_its_ca_in_vault_cacert(
    at_tls_vault: TlsOpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VAULT_CACERT naming the server's CA: the load over https reads the secret from Vault."""
    assert at_tls_vault.addr.startswith("https://")
    version = at_tls_vault.write_kv2(base, VAULT_SECRETS)
    monkeypatch.setenv("VAULT_CACERT", str(at_tls_vault.ca_path))
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == VAULT_CANARY_KEY
    assert settings.source_of("alpaca_api_key") == (
        "vault",
        f"secret/{base}#alpaca_api_key",
        str(version),
    )


def test_https_vault_without_its_ca_fails_the_handshake_once_naming_the_address(
    at_tls_vault: TlsOpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CA configured: production fails on the TLS handshake, tried once, nothing reaches Vault.

    OpenSSL's SSL_CERT_FILE does not help (requests uses its own bundle); the bundle variable
    requests itself honours, REQUESTS_CA_BUNDLE, does, as with a plain hvac client.
    """
    at_tls_vault.write_kv2(base, VAULT_SECRETS)
    mark = at_tls_vault.audit_mark()
    expected = (
        f"vault at {at_tls_vault.addr}: unreachable ({TLS_FAILED}; 1 attempt) {PRODUCTION_FAILS}"
    )
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message == expected
    monkeypatch.setenv("SSL_CERT_FILE", str(at_tls_vault.ca_path))
    vault_logins.forget_logins()
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message == expected
    assert at_tls_vault.root_token not in str(excinfo.value)
    assert at_tls_vault.requests_since(mark) == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(at_tls_vault.ca_path))
    vault_logins.forget_logins()
    assert NovaSettings(environment="production").source_of("alpaca_api_key").source == "vault"


def test_a_ca_bundle_replaced_in_place_is_trusted_by_the_next_load(
    at_tls_vault: TlsOpenBao, base: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """VAULT_CACERT's file rotated on a mounted volume: no restart needed, as with requests
    (urllib3 loads the file again for each new connection)."""
    import certifi  # noqa: PLC0415 - a bundle without the dev CA

    at_tls_vault.write_kv2(base, VAULT_SECRETS)
    bundle = tmp_path / "vault-ca.pem"
    shutil.copyfile(certifi.where(), bundle)
    monkeypatch.setenv("VAULT_CACERT", str(bundle))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert TLS_FAILED in excinfo.value.problems[0].message
    shutil.copyfile(at_tls_vault.ca_path, bundle)  # the same path, new content
    assert NovaSettings(environment="production").source_of("alpaca_api_key").source == "vault"


def test_vault_skip_verify_loads_without_a_ca_with_one_warning_of_ours(
    at_tls_vault: TlsOpenBao,
    base: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """VAULT_SKIP_VERIFY=1 reads over https with no CA; one logged warning, no urllib3 warnings.

    urllib3 would warn (InsecureRequestWarning, set to "always") on every request of every
    load; the suite turns warnings into errors, so a load that returns proves none escaped.
    """
    at_tls_vault.write_kv2(base, VAULT_SECRETS)
    monkeypatch.setenv("VAULT_SKIP_VERIFY", "1")
    monkeypatch.setattr(vault_auth, "_warned_skip_verify", set())
    mark = at_tls_vault.audit_mark()
    with caplog.at_level(logging.WARNING, logger="nova_config"):
        for _ in range(2):
            vault_logins.forget_logins()
            settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").source == "vault"
    assert len(at_tls_vault.requests_since(mark)) == 4  # two paths, two loads
    skip_warnings = [r for r in caplog.records if "VAULT_SKIP_VERIFY" in r.getMessage()]
    assert len(skip_warnings) == 1  # once per address and process, not once per client
    expected = f"VAULT_SKIP_VERIFY is set: the certificate of vault at {at_tls_vault.addr} is "
    assert skip_warnings[0].getMessage().startswith(expected + "not checked")


def test_vault_capath_folder_is_trusted_once_its_ca_has_the_subject_hash_name(
    at_tls_vault: TlsOpenBao, base: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """VAULT_CAPATH: OpenSSL finds a CA in the folder only as <subject hash>.0 (c_rehash's name).

    With only vault-ca.pem in the folder the handshake fails; a copy named by
    `openssl x509 -hash` makes the same folder work.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command, which names the CA by its subject hash, is not on PATH")
    at_tls_vault.write_kv2(base, VAULT_SECRETS)
    folder = tmp_path / "ca-folder"
    folder.mkdir()
    shutil.copy(at_tls_vault.ca_path, folder / "vault-ca.pem")
    monkeypatch.setenv("VAULT_CAPATH", str(folder))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message.startswith(
        f"vault at {at_tls_vault.addr}: unreachable ({TLS_FAILED}; 1 attempt)"
    )
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(at_tls_vault.ca_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shutil.copy(at_tls_vault.ca_path, folder / f"{subject_hash}.0")
    vault_logins.forget_logins()
    assert NovaSettings().source_of("alpaca_api_key").source == "vault"


def test_approle_login_over_https_trusts_vault_cacert(
    at_tls_vault: TlsOpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An AppRole login over https checks the server against VAULT_CACERT, as KV reads do."""
    at_tls_vault.write_kv2(base, VAULT_SECRETS)
    log_in_with_approle(at_tls_vault, base, monkeypatch)
    monkeypatch.setenv("VAULT_CACERT", str(at_tls_vault.ca_path))
    settings = NovaSettings(environment="production")
    assert settings.source_of("alpaca_api_key").source == "vault"


def test_no_path_found_over_https_is_reported_missing_not_a_tls_failure(
    at_tls_vault: TlsOpenBao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With VAULT_CACERT set and no path present, the mount lookup that follows trusts it too."""
    monkeypatch.setenv("VAULT_CACERT", str(at_tls_vault.ca_path))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert {p.kind for p in excinfo.value.problems} == {"missing"}


def test_vault_namespace_reads_the_secret_inside_that_namespace(
    at_vault: OpenBao, team_a: Namespace, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VAULT_NAMESPACE=team-a reads secret/ of namespace team-a; without it the path is absent."""
    version = team_a.write_kv2(base, VAULT_SECRETS)
    monkeypatch.setenv("VAULT_NAMESPACE", team_a.name)
    mark = at_vault.audit_mark()
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == VAULT_CANARY_KEY
    assert settings.source_of("alpaca_api_key") == (
        "vault",
        f"secret/{base}#alpaca_api_key",
        str(version),
    )
    reads = at_vault.requests_since(mark, f"secret/data/{base}", "read")
    assert {r["request"]["namespace"]["path"] for r in reads} == {"team-a/"}

    monkeypatch.delenv("VAULT_NAMESPACE")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert {p.kind for p in excinfo.value.problems} == {"missing"}
    assert f"secret/{base}/production (not found), secret/{base} (not found)" in str(excinfo.value)


@pytest.fixture
def via_proxy(
    fault_proxy: FaultProxy, openbao: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> FaultProxy:
    """The process reads this test's one path through the fault proxy, with the root token."""
    monkeypatch.setenv("VAULT_ADDR", fault_proxy.addr)
    monkeypatch.setenv("VAULT_TOKEN", openbao.root_token)
    monkeypatch.setenv("NOVA_VAULT_PATH", base)
    return fault_proxy


def test_a_502_is_retried_and_the_next_answer_is_used(
    via_proxy: FaultProxy, openbao: OpenBao, base: str
) -> None:
    """One 502 (injected by the proxy), then the real answer: the load succeeds on the retry.

    Fault injection at the HTTP layer: a healthy dev server does not answer 5xx on demand.
    The proxy saw the read twice; the server (its audit device) only the forwarded one.
    """
    openbao.write_kv2(base, VAULT_SECRETS)
    via_proxy.fail(502, {"errors": ["injected"]}, times=1)
    mark = openbao.audit_mark()
    settings = NovaSettings()
    assert settings.source_of("alpaca_api_key") == ("vault", f"secret/{base}#alpaca_api_key", "1")
    assert via_proxy.requests_for(f"/v1/secret/data/{base}") == 2
    assert len(openbao.requests_since(mark, f"secret/data/{base}", "read")) == 1


def test_a_persistent_500_fails_after_the_configured_attempts(
    via_proxy: FaultProxy, openbao: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read answered 500: 3 attempts by default, 1 with NOVA_VAULT_RETRIES=0.

    Fault injection at the HTTP layer: a healthy dev server does not answer 5xx on demand.
    """
    openbao.write_kv2(base, VAULT_SECRETS)
    via_proxy.fail(500, {"errors": ["injected"]})
    path = f"/v1/secret/data/{base}"
    mark = openbao.audit_mark()
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message == (
        f"vault at {via_proxy.addr}: unreachable (HTTP 500; 3 attempts) {PRODUCTION_FAILS}"
    )
    assert via_proxy.requests_for(path) == 3

    monkeypatch.setenv("NOVA_VAULT_RETRIES", "0")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message == (
        f"vault at {via_proxy.addr}: unreachable (HTTP 500; 1 attempt) {PRODUCTION_FAILS}"
    )
    assert via_proxy.requests_for(path) == 4
    assert openbao.requests_since(mark) == []


def test_a_503_saying_sealed_is_not_retried_and_reads_sealed(
    via_proxy: FaultProxy, openbao: OpenBao, base: str
) -> None:
    """503 with "Vault is sealed": one request, no retry, and the message says sealed.

    Fault injection at the HTTP layer: the body is the one a sealed server sends.
    """
    via_proxy.fail(503, {"errors": ["Vault is sealed"]})
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message == (
        f"vault at {via_proxy.addr}: sealed (unseal it, or fix VAULT_ADDR) {PRODUCTION_FAILS}"
    )
    assert via_proxy.requests_for(f"/v1/secret/data/{base}") == 1


def test_a_persistent_429_is_retried_then_reported_as_throttled(
    via_proxy: FaultProxy, openbao: OpenBao, base: str
) -> None:
    """Every read answered 429: retried like a busy server, then reported as throttled.

    Fault injection at the HTTP layer: a dev server without rate-limit quotas never answers 429.
    """
    via_proxy.fail(429, {"errors": ['request path "secret/": rate limit quota exceeded']})
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message == (
        f"vault at {via_proxy.addr}: throttled (HTTP 429; 3 attempts) {PRODUCTION_FAILS}"
    )
    assert via_proxy.requests_for(f"/v1/secret/data/{base}") == 3


# --- a Vault reached through an HTTP proxy -------------------------------------------------------


@pytest.fixture
def behind_proxy(
    via_proxy: FaultProxy, openbao: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> FaultProxy:
    """VAULT_ADDR is the server itself, and HTTP_PROXY the fault proxy, which relays requests
    sent to it in proxy form (`GET http://host:port/v1/...`) to the server."""
    openbao.write_kv2(base, VAULT_SECRETS)
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", via_proxy.addr)
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    return via_proxy


def test_with_http_proxy_set_every_vault_request_goes_through_the_proxy(
    behind_proxy: FaultProxy, openbao: OpenBao, base: str
) -> None:
    """HTTP_PROXY as requests honours it: the token lookup and the read reach the proxy in
    proxy form, and a redirect-free answer loads as usual."""
    settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").source == "vault"
    assert behind_proxy.requests_for(f"{openbao.addr}/v1/secret/data/{base}") == 1
    NovaSettings()  # the second load too, on the kept session
    assert behind_proxy.requests_for(f"{openbao.addr}/v1/secret/data/{base}") == 2


def test_no_proxy_naming_the_vault_host_sends_nothing_through_the_proxy(
    behind_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY as requests honours it: the host it names is reached directly."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").source == "vault"
    assert behind_proxy.requests_for_any() == 0


def test_a_user_and_password_in_vault_addr_go_as_basic_auth_as_requests_sends_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Vault behind a proxy that asks for HTTP Basic: VAULT_ADDR's userinfo, percent-decoded,
    is sent as requests (and Vault's Go client) send it, and is never shown."""
    server = KeepAliveServer()  # answers every GET; it holds no secret, so the load fails
    try:
        host = server.addr.removeprefix("http://")
        monkeypatch.setenv("VAULT_ADDR", f"http://nova:p%40ss-canary-77c1@{host}")
        monkeypatch.setenv("VAULT_TOKEN", "token-canary-2b9e")
        monkeypatch.setenv("NOVA_VAULT_PATH", "nova-aetus")
        with pytest.raises(SettingsError) as excinfo:
            NovaSettings()
        sent = {headers.get("Authorization") for _, _, headers in server.requests}
    finally:
        server.stop()
    assert sent == {"Basic " + base64.b64encode(b"nova:p@ss-canary-77c1").decode()}
    assert {headers.get("User-Agent") for _, _, headers in server.requests} == {"nova-config"}
    assert "canary" not in str(excinfo.value)
