"""The failure policy: a store that cannot be read stops staging and production, not a laptop."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nova_config import FailurePolicy, NovaSettings, SettingsError, SourceConfigError
from nova_config.cli import main
from tests.support.data import VALID
from tests.support.helpers import MemorySource, write


@pytest.mark.parametrize(
    ("environment", "fallback"),
    [("development", True), ("test", True), ("staging", False), ("production", False)],
)
def test_default_policy_follows_the_environment(environment: str, fallback: bool) -> None:
    """development and test fall back by default; staging and production fail."""
    policy = FailurePolicy.of(environment, {})
    assert policy.fallback is fallback
    assert policy.reason == f"the default in {environment}"


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize(("raw", "fallback"), [("fail", False), (" FALLBACK ", True)])
def test_variable_overrides_the_default(environment: str, raw: str, fallback: bool) -> None:
    """NOVA_ON_SOURCE_ERROR wins over the environment's default, either way round."""
    policy = FailurePolicy.of(environment, {"NOVA_ON_SOURCE_ERROR": raw})
    assert policy.fallback is fallback
    assert policy.reason == f"NOVA_ON_SOURCE_ERROR={raw.strip().lower()}"


@pytest.mark.parametrize("raw", ["", "ignore", "true"])
def test_unknown_policy_is_a_config_error(raw: str, memory: type[MemorySource]) -> None:
    """A misspelt policy fails the load before any store is read, whatever the environment."""
    with pytest.raises(SourceConfigError, match="NOVA_ON_SOURCE_ERROR must be fail or fallback"):
        FailurePolicy.of("development", {"NOVA_ON_SOURCE_ERROR": raw})
    memory.data = dict(VALID)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NOVA_ON_SOURCE_ERROR", raw)
        with pytest.raises(SourceConfigError):
            NovaSettings()
    assert memory.loads == 0


def test_development_falls_back_to_dotenv_with_a_warning(
    memory: type[MemorySource], caplog: pytest.LogCaptureFixture
) -> None:
    """In development an unreadable store is logged and `.env` serves the secrets."""
    memory.fail = True
    write_dotenv()
    with caplog.at_level(logging.WARNING, logger="nova_config"):
        settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").source == "dotenv"
    assert settings.resolution.failed == {
        "memory": "memory store at mem://local is unavailable: switched off"
    }
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        "memory store at mem://local is unavailable: switched off; going on with the other "
        "sources (the default in development)"
    )


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_staging_and_production_fail_fast_naming_the_cause(
    environment: str, memory: type[MemorySource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In staging and production the same failure is fatal, even when `.env` could serve."""
    # The stand-in store skips itself in production; here it takes part and fails.
    monkeypatch.setattr(MemorySource, "skip_reason", classmethod(lambda cls, ctx: None))
    memory.fail = True
    write_dotenv()
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment=environment)
    (problem,) = excinfo.value.problems
    assert problem.kind == "source"
    assert problem.message == (
        "memory store at mem://local is unavailable: switched off "
        f"(the default in {environment} is to fail)"
    )
    assert excinfo.value.resolution is not None
    assert "memory" in excinfo.value.resolution.failed


def test_override_lets_staging_fall_back_and_development_fail(
    memory: type[MemorySource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """NOVA_ON_SOURCE_ERROR=fallback lets staging boot; =fail stops development."""
    memory.fail = True
    write_dotenv()
    monkeypatch.setenv("NOVA_ON_SOURCE_ERROR", "fallback")
    assert NovaSettings(environment="staging").source_of("alpaca_api_key").source == "dotenv"
    monkeypatch.setenv("NOVA_ON_SOURCE_ERROR", "fail")
    with pytest.raises(SettingsError, match=r"\(NOVA_ON_SOURCE_ERROR=fail is to fail\)"):
        NovaSettings(environment="development")


def test_missing_secret_after_a_fallback_names_the_failed_store(
    memory: type[MemorySource],
) -> None:
    """When nothing else holds a secret either, its message says the store was not read."""
    memory.fail = True
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    (alpaca,) = [p for p in excinfo.value.problems if p.variable == "ALPACA_API_KEY"]
    assert "memory store at mem://local is unavailable: switched off (not read)" in alpaca.message
    assert all(p.kind == "missing" for p in excinfo.value.problems)


def test_check_prints_the_fallback_as_a_warning(
    memory: type[MemorySource], capsys: pytest.CaptureFixture[str]
) -> None:
    """`nova-config check` loads, and says which store it went on without."""
    memory.fail = True
    write_dotenv()
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "warning: memory store at mem://local is unavailable: switched off" in out
    assert main(["check", "--json"]) == 0
    assert '"memory": "memory store at mem://local is unavailable: switched off"' in (
        capsys.readouterr().out
    )


def write_dotenv() -> None:
    """The three required secrets in ./.env, as a developer keeps them."""
    write(Path(".env"), "".join(f"{name}={value}\n" for name, value in VALID.items()))
