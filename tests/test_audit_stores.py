"""The audit trail and alerts against the real stores: OpenBao denying a read, moto denying one.

Each test plants canaries (the stores' secrets, the token, the webhook's token) and checks that
none reaches the audit file, the log or the alert.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from nova_config import NovaSettings, SecretSettings, SettingsError
from nova_config.auditchain import lines_of
from nova_config.cli import main
from nova_config.sources import aws
from tests.support.data import VALID, VALID_FIELDS, VAULT_CANARIES, VAULT_SECRETS, WEBHOOK
from tests.support.discord import TOKEN, Answer, DiscordStandIn
from tests.support.helpers import use_new_aws_secret, write
from tests.support.moto import (
    FAKE_SECRET_KEY,
    Forwarder,
    MotoServer,
)
from tests.support.openbao import OpenBao


class Audited(NamedTuple):
    """Where a test's loads are audited: the log, and the Discord stand-in alerts go to."""

    log: Path
    discord: DiscordStandIn


@pytest.fixture
def audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, discord: DiscordStandIn) -> Audited:
    """An audit log and alerts to the stand-in, the rate limit's state in this test's folder."""
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(path))
    monkeypatch.setenv("NOVA_ALERT_WEBHOOK", discord.url())
    monkeypatch.setenv("NOVA_ALERT_STATE", str(tmp_path / "alerts.json"))
    return Audited(path, discord)


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in lines_of(path.read_bytes())]


def assert_clean(text: str, *canaries: str) -> None:
    for canary in canaries:
        assert canary not in text


def test_a_token_whose_policy_lacks_the_path_is_denied_audited_and_alerted(
    at_vault: OpenBao,
    base: str,
    monkeypatch: pytest.MonkeyPatch,
    audited: Audited,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Production fails; the alert is delivered before SettingsError reaches the caller."""
    at_vault.write_kv2(base, VAULT_SECRETS)
    token = at_vault.token(["no-such-policy"])
    monkeypatch.setenv("VAULT_TOKEN", token)
    with caplog.at_level(logging.DEBUG), pytest.raises(SettingsError):
        NovaSettings(environment="production")
    assert len(audited.discord.posts) == 1  # delivered before the error was raised
    (failed,) = [e for e in events(audited.log) if e["event"] == "source_failed"]
    assert failed["source"] == "vault"
    assert failed["cause"] == "denied"
    assert failed["outcome"] == "fatal"
    assert "permission denied" in failed["reason"]
    assert events(audited.log)[-1]["event"] == "settings_failed"
    content = audited.discord.posts[0].json()["content"]
    assert "denied" in content
    assert "vault" in content
    assert "production" in content
    assert "NovaSettings" in content
    shown = audited.log.read_text() + content + "\n".join(r.getMessage() for r in caplog.records)
    assert_clean(shown, token, TOKEN, *VAULT_CANARIES)


def test_a_denial_in_development_falls_back_and_still_alerts(
    at_vault: OpenBao,
    base: str,
    monkeypatch: pytest.MonkeyPatch,
    audited: Audited,
) -> None:
    at_vault.write_kv2(base, VAULT_SECRETS)
    monkeypatch.setenv("VAULT_TOKEN", at_vault.token(["no-such-policy"]))
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    assert NovaSettings().source_of("alpaca_api_key").source == "env"
    (failed,) = [e for e in events(audited.log) if e["event"] == "source_failed"]
    assert (failed["cause"], failed["outcome"]) == ("denied", "fallback")
    assert len(audited.discord.posts) == 1


def test_an_unreachable_store_alerts_only_in_strict_environments(
    monkeypatch: pytest.MonkeyPatch, audited: Audited
) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("VAULT_TOKEN", "canary-unreachable-token")
    monkeypatch.setenv("NOVA_VAULT_RETRIES", "0")
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    NovaSettings()
    assert audited.discord.posts == []  # development: a fallback, not an alert
    monkeypatch.setenv("NOVA_ON_SOURCE_ERROR", "fallback")
    NovaSettings(environment="staging")
    assert len(audited.discord.posts) == 1
    assert "store_failed" in audited.discord.posts[0].json()["content"]
    NovaSettings(environment="staging")
    assert len(audited.discord.posts) == 1  # the same alert within ten minutes: held back


@pytest.fixture
def aws_denied(
    moto_server: MotoServer, moto_forwarder: Forwarder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A secret in moto, read through the forwarder, which answers AccessDeniedException."""
    name = use_new_aws_secret(moto_server, monkeypatch, "nova", VALID_FIELDS, moto_forwarder.url)
    moto_forwarder.fail_with("AccessDeniedException")
    yield name
    aws.close_clients()


def test_aws_access_denied_is_audited_and_alerted(aws_denied: str, audited: Audited) -> None:
    """Injected at the HTTP layer: moto itself does not enforce IAM on GetSecretValue here."""
    with pytest.raises(SettingsError):
        NovaSettings(environment="production")
    (failed,) = [e for e in events(audited.log) if e["event"] == "source_failed"]
    assert (failed["source"], failed["cause"], failed["outcome"]) == ("aws", "denied", "fatal")
    assert aws_denied in failed["reason"]  # the secret's name is a place, not a value
    content = audited.discord.posts[0].json()["content"]
    assert "aws" in content
    assert_clean(audited.log.read_text() + content, FAKE_SECRET_KEY, *VALID.values())


def test_dotenv_read_in_production_alerts(
    monkeypatch: pytest.MonkeyPatch, audited: Audited
) -> None:
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    write(Path(".env"), "".join(f"{k}={v}\n" for k, v in VALID.items()))
    NovaSettings(environment="production")
    (post,) = audited.discord.posts
    content = post.json()["content"]
    assert "dotenv_in_production" in content
    assert ".env" in content
    assert_clean(content + audited.log.read_text(), *VALID.values())


class AppSettings(SecretSettings):
    """An app whose own webhook needs no Discord host: the stand-in serves as its Discord."""

    discord_webhook_url: SecretStr
    timescale_password: SecretStr


def test_app_alerts_go_to_the_models_own_webhook(
    monkeypatch: pytest.MonkeyPatch, audited: Audited
) -> None:
    """NOVA_ALERT_WEBHOOK=app: the resolved discord_webhook_url is where the alert goes."""
    token = "AppCanaryWebhookToken-0123456789"
    monkeypatch.setenv("NOVA_ALERT_WEBHOOK", "app")
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    monkeypatch.setenv("NOVA_ENV", "production")
    write(
        Path(".env"),
        f"DISCORD_WEBHOOK_URL={audited.discord.url(token)}\nTIMESCALE_PASSWORD=canary-app-pass-77\n",
    )
    AppSettings()
    (post,) = audited.discord.posts
    assert post.path.endswith(token)
    content = post.json()["content"]
    assert "dotenv_in_production" in content
    assert_clean(content + audited.log.read_text(), token, "canary-app-pass-77")


def test_a_hanging_alert_endpoint_does_not_hold_the_load(
    monkeypatch: pytest.MonkeyPatch, audited: Audited
) -> None:
    monkeypatch.setenv("NOVA_ALERT_TIMEOUT", "0.5")
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    audited.discord.script.append(Answer(mode="hang"))
    write(Path(".env"), "".join(f"{k}={v}\n" for k, v in VALID.items()))
    started = time.monotonic()
    NovaSettings(environment="production")
    assert time.monotonic() - started < 0.5 + 1.0  # a generous bound that proves the deadline
    assert len(audited.discord.posts) == 1


_CANARY = st.text(
    alphabet=st.characters(min_codepoint=48, max_codepoint=122, categories=["Lu", "Ll", "Nd"]),
    min_size=10,
    max_size=30,
).map(lambda text: "cnry" + text)


@pytest.fixture
def vault_path(at_vault: OpenBao, base: str) -> tuple[OpenBao, str]:
    """The session's OpenBao, pointed at, and this test's own path on it."""
    return at_vault, base


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(canaries=st.tuples(_CANARY, _CANARY, _CANARY, _CANARY, _CANARY))
def test_canaries_in_every_source_and_credential_never_reach_any_audit_output(
    vault_path: tuple[OpenBao, str],
    monkeypatch: pytest.MonkeyPatch,
    audited: Audited,
    caplog: pytest.LogCaptureFixture,
    canaries: tuple[str, str, str, str, str],
) -> None:
    """Env, .env, a secret file, Vault and its token, and the HMAC key: none is shown by the
    file, the logger, `audit report`, `audit verify` or the alert (.env read in production)."""
    at_vault, base = vault_path
    env_value, dotenv_value, file_value, vault_value, hmac_key = canaries
    at_vault.write_kv2(base, {"alpaca_api_key": vault_value})
    policy = at_vault.policy(f"read-{base}", [f"secret/data/{base}"])
    token = at_vault.token([policy])
    monkeypatch.setenv("VAULT_TOKEN", token)
    monkeypatch.setenv("NOVA_VAULT_PATH", base)
    monkeypatch.setenv("NOVA_ENV", "production")
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    monkeypatch.setenv("TIMESCALE_PASSWORD", env_value)
    monkeypatch.setenv("NOVA_AUDIT_HMAC_KEY", hmac_key)
    write(Path(".env"), f"ALPACA_SECRET_KEY={dotenv_value}\n")
    folder = Path("secrets")
    write(folder / "discord_webhook_url", WEBHOOK.replace("AbCdEf", "Ab" + file_value))
    monkeypatch.setenv("NOVA_SECRETS_DIR", str(folder))
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        NovaSettings()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["audit", "report", str(audited.log), "--json"])
        main(["audit", "verify", str(audited.log)])
    shown = "\n".join(
        [
            audited.log.read_text(),
            out.getvalue(),
            *(r.getMessage() for r in caplog.records),
            *(post.body.decode() for post in audited.discord.posts),
        ]
    )
    assert "settings_loaded" in shown
    assert "hmac-sha256:" in shown
    assert len(audited.discord.posts) >= 1  # the first example's alert; later ones held back
    assert_clean(shown, token, hmac_key, *canaries)
