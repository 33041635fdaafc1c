"""The Vault source against a real OpenBao dev server: auth, KV v1/v2, paths, failures, policy."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from nova_config import (
    MissingExtraError,
    NovaSettings,
    SettingsError,
    SourceConfigError,
)
from nova_config.sources import vault_logins
from nova_config.sources.base import LoadContext
from nova_config.sources.vault import VaultSource
from nova_config.sources.vault_client import is_plaintext_remote
from nova_config.sources.vault_config import find_credentials
from tests.support.data import (
    VALID,
    VAULT_CANARIES,
    VAULT_CANARY_KEY,
    VAULT_CANARY_PASSWORD,
    VAULT_CANARY_WEBHOOK,
    VAULT_SECRETS,
    WEBHOOK,
    valid_kwargs,
)
from tests.support.helpers import log_in_with_approle, write
from tests.support.loopback import HOST, free_port
from tests.support.openbao import OpenBao, SealedOpenBao
from tests.support.tokenreview import KubernetesReviewer

pytestmark = pytest.mark.usefixtures("fresh_logins")


def assert_clean(*texts: str) -> None:
    """None of the canaries (nor the server's root token) appears in any text."""
    for text in texts:
        for canary in VAULT_CANARIES:
            assert canary not in text


def logs(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


# --- reading -------------------------------------------------------------------------------------


def test_loads_every_secret_from_one_path_with_its_version(at_vault: OpenBao, base: str) -> None:
    """Keys named as in the seed load, and provenance names mount, path, key and KV version."""
    version = at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    settings = NovaSettings()
    assert settings.discord_webhook_url.get_secret_value() == VAULT_CANARY_WEBHOOK
    assert settings.timescale_password.get_secret_value() == VAULT_CANARY_PASSWORD
    origin = settings.source_of("alpaca_api_key")
    assert origin.source == "vault"
    assert origin.location == f"secret/{base}/development#alpaca_api_key"
    assert origin.version == str(version)
    assert_clean(repr(settings), str(settings.resolution))


def test_upper_case_names_and_file_aliases_are_accepted(at_vault: OpenBao, base: str) -> None:
    """DISCORD_WEBHOOK_URL as a key, and the alias db_password, fill their fields."""
    at_vault.write_kv2(
        f"{base}/development",
        {
            "DISCORD_WEBHOOK_URL": VAULT_CANARY_WEBHOOK,
            "db_password": VAULT_CANARY_PASSWORD,
            "alpaca_api_key": VAULT_CANARY_KEY,
            "timescale_port": 6543,
        },
    )
    settings = NovaSettings()
    assert settings.source_of("discord_webhook_url").location.endswith("#DISCORD_WEBHOOK_URL")
    assert settings.source_of("timescale_password").location.endswith("#db_password")
    assert settings.timescale_port == 6543  # a JSON number reaches an int field


def test_path_list_priority_per_environment_over_shared(at_vault: OpenBao, base: str) -> None:
    """The per-environment path wins; the shared path fills what it lacks."""
    at_vault.write_kv2(base, {**VAULT_SECRETS, "alpaca_api_key": "AKSHARED0000000"})
    at_vault.write_kv2(f"{base}/development", {"alpaca_api_key": VAULT_CANARY_KEY})
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == VAULT_CANARY_KEY
    assert settings.source_of("alpaca_api_key").location == (
        f"secret/{base}/development#alpaca_api_key"
    )
    assert settings.source_of("timescale_password").location == f"secret/{base}#timescale_password"


def test_environment_placeholder_selects_the_path(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """{environment} in NOVA_VAULT_PATH becomes the environment of the load."""
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    at_vault.write_kv2(f"{base}/staging", {**VAULT_SECRETS, "alpaca_api_key": "AKSTAGING000000"})
    monkeypatch.setenv("NOVA_ENV", "staging")
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKSTAGING000000"
    assert settings.source_of("alpaca_api_key").location.startswith(f"secret/{base}/staging#")


def test_environment_values_still_win_over_vault(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vault sits after environment variables and secret files in the order."""
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    monkeypatch.setenv("ALPACA_API_KEY", VALID["ALPACA_API_KEY"])
    settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").source == "env"
    assert settings.source_of("timescale_password").source == "vault"
    assert settings.resolution.sources == ("env", "files", "vault", "dotenv")


def test_kv_version_1_mount(at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOVA_VAULT_KV_VERSION=1 reads a KV v1 mount; a v1 value carries no version."""
    at_vault.write_kv1(base, VAULT_SECRETS)
    monkeypatch.setenv("NOVA_VAULT_MOUNT", "kv1")
    monkeypatch.setenv("NOVA_VAULT_KV_VERSION", "1")
    settings = NovaSettings()
    assert settings.source_of("alpaca_api_key") == ("vault", f"kv1/{base}#alpaca_api_key", None)


def test_a_value_that_is_not_text_is_a_problem_without_the_value(
    at_vault: OpenBao, base: str
) -> None:
    """A key holding an object is named, and nothing of it is shown."""
    at_vault.write_kv2(base, {**VAULT_SECRETS, "alpaca_api_key": {"nested": VAULT_CANARY_KEY}})
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    problem = excinfo.value.problems[0]
    assert problem.message == f"vault: secret/{base}#alpaca_api_key holds no text value"
    assert [p.kind for p in excinfo.value.problems] == ["source", "missing"]
    assert_clean(str(excinfo.value))


# --- authentication ------------------------------------------------------------------------------


def test_token_file_is_used_when_no_token_variable(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/.vault-token, as `bao login` leaves it, authenticates when VAULT_TOKEN is unset."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(SettingsError, match="no credentials found"):
        NovaSettings(environment="staging")
    write(Path.home() / ".vault-token", at_vault.root_token + "\n")
    assert NovaSettings().source_of("alpaca_api_key").source == "vault"
    assert repr(find_credentials({"HOME": str(Path.home())})) == (
        f"Credentials(the token in {Path.home() / '.vault-token'})"
    )


def test_token_variable_wins_over_the_token_file(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VAULT_TOKEN comes first: a stale token file is not even read."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    write(Path.home() / ".vault-token", "s.stale-token-from-an-old-login")
    assert NovaSettings(environment="staging").source_of("alpaca_api_key").source == "vault"


def test_approle_login_is_made_once_and_reused(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AppRole logs in on the first load only; later loads reuse the token."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    log_in_with_approle(at_vault, base, monkeypatch)
    mark = at_vault.audit_mark()
    for _ in range(3):
        assert NovaSettings().source_of("alpaca_api_key").source == "vault"
    assert len(at_vault.requests_since(mark, "auth/approle/login")) == 1
    assert len(at_vault.requests_since(mark, f"secret/data/{base}")) == 6  # 2 paths x 3 loads


def test_approle_with_a_wrong_secret_id_is_refused_without_showing_it(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused login names the method, never the role id or secret id."""
    role_id, _ = at_vault.approle([f"secret/data/{base}"])
    wrong = str(uuid.uuid4())
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", wrong)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    message = excinfo.value.problems[0].message
    assert message.startswith(
        f"vault at {at_vault.addr}: AppRole login at auth/approle was refused"
    )
    assert wrong not in str(excinfo.value)
    assert role_id not in str(excinfo.value)


def test_expiring_login_is_renewed_and_revoked_login_is_redone(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached token near its expiry is renewed; one revoked behind our back is replaced."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    log_in_with_approle(at_vault, base, monkeypatch)
    NovaSettings()
    ((key, login),) = vault_logins._logins.items()
    vault_logins._logins.put(key, login._replace(expires=0.0))  # as if 80% of the TTL had passed
    mark = at_vault.audit_mark()
    NovaSettings()
    assert len(at_vault.requests_since(mark, "auth/token/renew-self")) == 1
    assert at_vault.requests_since(mark, "auth/approle/login") == []
    at_vault.client().auth.token.revoke(vault_logins._logins.values()[0].client.token)
    mark = at_vault.audit_mark()
    assert NovaSettings().source_of("alpaca_api_key").source == "vault"
    assert len(at_vault.requests_since(mark, "auth/approle/login")) == 1


def test_kubernetes_login_with_the_service_account_token(
    at_vault: OpenBao,
    kubernetes_reviewer: KubernetesReviewer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """VAULT_K8S_ROLE logs in with the JWT at VAULT_K8S_TOKEN_PATH, reviewed by the cluster."""
    path = f"nova-aetus/{uuid.uuid4().hex[:8]}"  # the Kubernetes role may read nova-aetus/*
    at_vault.write_kv2(path, VAULT_SECRETS)
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("NOVA_VAULT_PATH", path)
    monkeypatch.setenv("VAULT_K8S_ROLE", kubernetes_reviewer.role)
    monkeypatch.setenv("VAULT_K8S_MOUNT", kubernetes_reviewer.mount)
    token_path = write(tmp_path / "sa" / "token", kubernetes_reviewer.service_account_jwt())
    monkeypatch.setenv("VAULT_K8S_TOKEN_PATH", str(token_path))
    settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").location == f"secret/{path}#alpaca_api_key"

    vault_logins.forget_logins()
    write(token_path, kubernetes_reviewer.service_account_jwt(name="rejected"))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert "Kubernetes login as role nova-app at auth/kubernetes was refused" in str(excinfo.value)
    assert_clean(str(excinfo.value))

    monkeypatch.setenv("VAULT_K8S_TOKEN_PATH", str(tmp_path / "absent"))
    with pytest.raises(SettingsError, match=r"service-account token .*absent cannot be read"):
        NovaSettings(environment="production")


# --- one read per path ---------------------------------------------------------------------------


def test_one_read_per_path_never_one_per_field(at_vault: OpenBao, base: str) -> None:
    """Two paths and three secrets cost two reads (counted by the audit device)."""
    at_vault.write_kv2(base, {"timescale_password": VAULT_CANARY_PASSWORD})
    at_vault.write_kv2(
        f"{base}/development", {k: VAULT_SECRETS[k] for k in VAULT_SECRETS if "pass" not in k}
    )
    mark = at_vault.audit_mark()
    NovaSettings()
    reads = at_vault.requests_since(mark, f"secret/data/{base}", "read")
    assert sorted(r["request"]["path"] for r in reads) == [
        f"secret/data/{base}",
        f"secret/data/{base}/development",
    ]
    assert len(at_vault.requests_since(mark)) == 2  # no login, no lookup, nothing else


def test_a_missing_path_is_not_an_error_by_itself(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the shared path exists: the load succeeds; with neither, the message says so."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    assert NovaSettings().source_of("alpaca_api_key").location == f"secret/{base}#alpaca_api_key"
    monkeypatch.setenv("NOVA_VAULT_PATH", f"{base}-absent/{{environment}}")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert {p.kind for p in excinfo.value.problems} == {"missing"}
    assert (
        f"vault at {at_vault.addr}: key alpaca_api_key, ALPACA_API_KEY in "
        f"secret/{base}-absent/development (not found)"
    ) in str(excinfo.value)


# --- failures and the policy ---------------------------------------------------------------------


def closed_port_addr() -> str:
    return f"http://{HOST}:{free_port()}"


def write_dotenv() -> None:
    write(Path(".env"), "".join(f"{name}={value}\n" for name, value in VALID.items()))


def test_unreachable_vault_fails_production_naming_address_and_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A closed port: production fails fast, with the address and 'connection refused'."""
    addr = closed_port_addr()
    monkeypatch.setenv("VAULT_ADDR", addr)
    monkeypatch.setenv("VAULT_TOKEN", "s.canary-token-never-shown")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    first = excinfo.value.problems[0]
    assert first.kind == "source"
    assert first.message == (
        f"vault at {addr}: unreachable (connection refused; 3 attempts) "
        "(the default in production is to fail)"
    )
    assert "canary-token" not in str(excinfo.value)


def test_unreachable_vault_in_development_falls_back_to_dotenv(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In development a warning names the address and cause, and .env serves."""
    addr = closed_port_addr()
    monkeypatch.setenv("VAULT_ADDR", addr)
    monkeypatch.setenv("VAULT_TOKEN", "s.canary-token-never-shown")
    write_dotenv()
    with caplog.at_level(logging.DEBUG):
        settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").source == "dotenv"
    assert settings.resolution.failed["vault"].startswith(f"vault at {addr}: unreachable")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"vault at {addr}: unreachable (connection refused; 3 attempts); going on with the "
        "other sources (the default in development)"
    ]
    assert "canary-token" not in logs(caplog)


def test_a_silent_server_is_given_up_on_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts and never answers costs at most NOVA_VAULT_DEADLINE."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(8)  # never accepted: connections complete, requests go unanswered
        addr = f"http://{HOST}:{listener.getsockname()[1]}"
        monkeypatch.setenv("VAULT_ADDR", addr)
        monkeypatch.setenv("VAULT_TOKEN", "s.whatever")
        monkeypatch.setenv("NOVA_VAULT_TIMEOUT", "0.2")
        monkeypatch.setenv("NOVA_VAULT_DEADLINE", "0.5")
        with pytest.raises(SettingsError) as excinfo:
            NovaSettings(environment="production")
    message = excinfo.value.problems[0].message
    assert message.startswith(f"vault at {addr}: unreachable (")
    assert "no answer" in message


def test_sealed_vault_is_named_and_policy_applies(
    sealed_openbao: SealedOpenBao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sealed server is reported as sealed; development goes on with .env."""
    monkeypatch.setenv("VAULT_ADDR", sealed_openbao.addr)
    monkeypatch.setenv("VAULT_TOKEN", sealed_openbao.root_token)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="staging")
    assert excinfo.value.problems[0].message == (
        f"vault at {sealed_openbao.addr}: sealed (unseal it, or fix VAULT_ADDR) "
        "(the default in staging is to fail)"
    )
    write_dotenv()
    settings = NovaSettings(environment="test")
    assert settings.source_of("alpaca_api_key").source == "dotenv"
    assert "sealed" in settings.resolution.failed["vault"]


def test_wrong_token_is_permission_denied_naming_the_token_source(
    at_vault: OpenBao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown token: permission denied, the token is invalid or expired, never shown."""
    bad = "s.canary-bad-token-0123456789"
    monkeypatch.setenv("VAULT_TOKEN", bad)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message == (
        f"vault at {at_vault.addr}: permission denied: the token in VAULT_TOKEN is invalid or "
        "expired (the default in production is to fail)"
    )
    assert bad not in str(excinfo.value)


def test_token_without_policy_for_the_path_is_told_apart(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid token whose policies do not cover the path: the message names the path."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    monkeypatch.setenv("VAULT_TOKEN", at_vault.token(["no-such-policy"]))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message.startswith(
        f"vault at {at_vault.addr}: permission denied: the token's policies do not allow "
        f"reading secret/data/{base}"
    )


@pytest.mark.parametrize(
    "case",
    [("secret", "1", 2), ("kv1", "2", 1)],
)
def test_kv_version_mismatch_is_named(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch, case: tuple[str, str, int]
) -> None:
    """Reading a KV v2 mount as v1, or a v1 mount as v2, says which it is."""
    mount, version, actual = case
    if actual == 2:
        at_vault.write_kv2(base, VAULT_SECRETS)
    else:
        at_vault.write_kv1(base, VAULT_SECRETS)
    monkeypatch.setenv("NOVA_VAULT_MOUNT", mount)
    monkeypatch.setenv("NOVA_VAULT_KV_VERSION", version)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    assert excinfo.value.problems[0].message.startswith(
        f"vault at {at_vault.addr}: KV version mismatch: {mount}/ is a KV v{actual} mount but "
        f"NOVA_VAULT_KV_VERSION is {version}"
    )


def test_no_credentials_is_an_access_failure_judged_by_the_policy(
    at_vault: OpenBao, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VAULT_ADDR without any credentials: production fails; NOVA_ON_SOURCE_ERROR may excuse."""
    monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(SettingsError, match="no credentials found"):
        NovaSettings(environment="production")
    monkeypatch.setenv("NOVA_ON_SOURCE_ERROR", "fallback")
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    write_dotenv()
    settings = NovaSettings(environment="production")
    assert settings.source_of("alpaca_api_key").source == "dotenv"


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NOVA_VAULT_KV_VERSION", "3", "NOVA_VAULT_KV_VERSION must be 1 or 2"),
        ("NOVA_VAULT_TIMEOUT", "soon", "NOVA_VAULT_TIMEOUT must be a positive number of seconds"),
        ("NOVA_VAULT_DEADLINE", "0", "NOVA_VAULT_DEADLINE must be a positive number of seconds"),
        ("NOVA_VAULT_RETRIES", "-1", "NOVA_VAULT_RETRIES must be a whole number of at least 0"),
        ("NOVA_VAULT_PATH", "a/{env}", "may use only the {environment} placeholder"),
        ("NOVA_VAULT_PATH", " , ", "NOVA_VAULT_PATH names no path"),
        ("VAULT_ADDR", "ftp://vault.internal", "VAULT_ADDR must be an http:// or https://"),
        ("VAULT_ROLE_ID", "role-1", "VAULT_ROLE_ID is set but VAULT_SECRET_ID is not"),
    ],
)
def test_bad_configuration_fails_in_every_environment(
    at_vault: OpenBao, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    """A store's own settings being wrong is never excused by the fallback policy."""
    monkeypatch.setenv(variable, value)
    if variable == "VAULT_ROLE_ID":
        monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(SourceConfigError) as excinfo:
        NovaSettings(environment="development")
    assert message in str(excinfo.value)


def test_missing_hvac_names_the_extra(at_vault: OpenBao, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without hvac installed the error says which pip extra installs it."""
    monkeypatch.setitem(sys.modules, "hvac", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'nova-config\[vault\]'"):
        NovaSettings()


def test_vault_is_skipped_without_vault_addr_unless_named() -> None:
    """No VAULT_ADDR: skipped with a reason; named in NOVA_SOURCES: enabled on the default."""
    settings = NovaSettings(**valid_kwargs())
    assert settings.resolution.skipped["vault"] == "vault: VAULT_ADDR is not set"
    context = LoadContext("development", {"NOVA_SOURCES": "env,vault"}, ())
    assert VaultSource.skip_reason(context) is None
    assert VaultSource(context).config.addr == "https://127.0.0.1:8200"


def test_plain_http_to_another_host_is_flagged() -> None:
    """http:// to a remote host warrants the warning; loopback and https do not."""
    assert is_plaintext_remote("http://vault.internal:8200")
    assert is_plaintext_remote("http://10.0.0.5:8200")
    assert not is_plaintext_remote("http://127.0.0.1:8200")
    assert not is_plaintext_remote("http://localhost:8200")
    assert not is_plaintext_remote("http://[::1]:8200")
    assert not is_plaintext_remote("https://vault.internal:8200")


def test_loopback_http_load_logs_no_plaintext_warning(
    at_vault: OpenBao, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The local dev server over http loads without the plaintext warning, at any log level."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    with caplog.at_level(logging.DEBUG):
        NovaSettings()
    assert "plain http" not in logs(caplog)
    assert_clean(logs(caplog))


def test_source_repr_names_address_and_paths_not_the_token(at_vault: OpenBao, base: str) -> None:
    """The source's repr shows where it reads, never the token."""
    context = LoadContext("development", {"VAULT_ADDR": at_vault.addr, "VAULT_TOKEN": "s.x"}, ())
    source = VaultSource(context)
    assert repr(source) == (
        f"VaultSource({at_vault.addr} secret/nova-aetus/development, secret/nova-aetus)"
    )


def test_concurrent_loads_share_one_login(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loads in several threads at once all succeed (reads of several paths run in threads)."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    results: list[Any] = []

    def load() -> None:
        results.append(NovaSettings().source_of("alpaca_api_key").source)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["vault"] * 4
    assert WEBHOOK != VAULT_CANARY_WEBHOOK  # the canary is not the suite's ordinary valid value


def test_cached_clients_are_capped_oldest_first(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each credential keeps a client (a rotated JWT is a new one); only the newest 8 are kept."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    policy = at_vault.policy(f"read-{base}", [f"secret/data/{base}", f"secret/data/{base}/*"])
    tokens = [at_vault.token([policy]) for _ in range(vault_logins.MAX_LOGINS + 2)]
    for token in tokens:
        monkeypatch.setenv("VAULT_TOKEN", token)
        assert NovaSettings().source_of("alpaca_api_key").source == "vault"
    kept = [login.client.token for login in vault_logins._logins.values()]
    assert kept == tokens[-vault_logins.MAX_LOGINS :]


def test_credentials_in_vault_addr_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user and password written into VAULT_ADDR stay out of errors and the source's repr."""
    addr = f"http://ops:canary-addr-pass@{HOST}:{free_port()}"
    monkeypatch.setenv("VAULT_ADDR", addr)
    monkeypatch.setenv("VAULT_TOKEN", "s.x")
    monkeypatch.setenv("NOVA_VAULT_RETRIES", "0")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="production")
    shown = addr.replace("ops:canary-addr-pass@", "")
    assert excinfo.value.problems[0].message.startswith(f"vault at {shown}: unreachable (")
    assert "canary-addr-pass" not in str(excinfo.value)
    context = LoadContext("production", {"VAULT_ADDR": addr}, ())
    assert "canary-addr-pass" not in repr(VaultSource(context))
