"""Environment variables: bare names, the per-environment prefix, other environments ignored."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from pydantic_settings import EnvSettingsSource, SettingsConfigDict

from nova_config import NovaSettings, SecretSettings, SettingsError
from nova_config.compose import EnvironmentLayer


def test_bare_names_load_every_secret(valid_env: dict[str, str]) -> None:
    """The names of the existing .env work as environment variables."""
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == valid_env["ALPACA_API_KEY"]
    assert settings.timescale_password.get_secret_value() == valid_env["TIMESCALE_PASSWORD"]
    assert settings.discord_webhook_url.get_secret_value() == valid_env["DISCORD_WEBHOOK_URL"]
    assert settings.source_of("alpaca_api_key").source == "env"
    assert settings.source_of("alpaca_api_key").location == "ALPACA_API_KEY"


def test_prefixed_name_beats_bare_name_in_its_environment(
    valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With NOVA_ENV=staging, STAGING_ALPACA_API_KEY wins over ALPACA_API_KEY."""
    monkeypatch.setenv("NOVA_ENV", "staging")
    monkeypatch.setenv("STAGING_ALPACA_API_KEY", "AKSTAGING000111")
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKSTAGING000111"
    assert settings.source_of("alpaca_api_key").location == "STAGING_ALPACA_API_KEY"
    assert settings.source_of("timescale_password").location == "TIMESCALE_PASSWORD"


def test_other_environments_prefixes_are_ignored(
    valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PRODUCTION_ variables do nothing in staging."""
    monkeypatch.setenv("NOVA_ENV", "staging")
    monkeypatch.setenv("PRODUCTION_ALPACA_API_KEY", "AKPRODUCTION999")
    assert NovaSettings().alpaca_api_key.get_secret_value() == valid_env["ALPACA_API_KEY"]


def test_prefix_applies_to_plain_settings(
    valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Non-secret settings take the prefix rule too, and are converted to their type."""
    monkeypatch.setenv("NOVA_ENV", "test")
    monkeypatch.setenv("TIMESCALE_PORT", "6000")
    monkeypatch.setenv("TEST_TIMESCALE_PORT", "6543")
    settings = NovaSettings()
    assert settings.timescale_port == 6543
    assert settings.source_of("timescale_port").location == "TEST_TIMESCALE_PORT"


def test_empty_variable_is_an_error_not_a_fallthrough(
    valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty variable counts as set: it is reported as empty, not silently skipped."""
    monkeypatch.setenv("ALPACA_API_KEY", "")
    with pytest.raises(
        SettingsError, match=r"ALPACA_API_KEY \(env: ALPACA_API_KEY\) is invalid: is empty"
    ):
        NovaSettings()


def test_names_match_in_any_case_as_in_pydantic_settings(
    valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As BaseSettings reads them (case_sensitive=False), a lowercase variable is read."""
    monkeypatch.delenv("ALPACA_API_KEY")
    monkeypatch.setenv("alpaca_api_key", "AKLOWERCASE")
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKLOWERCASE"
    assert settings.source_of("alpaca_api_key") == ("env", "ALPACA_API_KEY", None)


def test_a_case_sensitive_model_reads_exact_names_only(
    valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`case_sensitive=True` is honoured: only the exact name is read."""

    class Exact(SecretSettings):
        model_config = SettingsConfigDict(case_sensitive=True)
        ALPACA_API_KEY: SecretStr

    monkeypatch.delenv("ALPACA_API_KEY")
    monkeypatch.setenv("alpaca_api_key", "AKLOWERCASE")
    with pytest.raises(SettingsError, match="ALPACA_API_KEY is missing"):
        Exact()
    monkeypatch.setenv("ALPACA_API_KEY", "AKEXACT")
    assert Exact().ALPACA_API_KEY.get_secret_value() == "AKEXACT"


def test_the_environment_layer_repr_names_its_prefix_not_what_it_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-environment layer's repr shows the prefix it reads, never a value."""
    monkeypatch.setenv("STAGING_ALPACA_API_KEY", "AKSECRETVALUE")
    layer = EnvironmentLayer(EnvSettingsSource(NovaSettings), "staging")
    assert layer()["alpaca_api_key"] == "AKSECRETVALUE"
    assert repr(layer) == "EnvironmentLayer(prefix='STAGING_')"
