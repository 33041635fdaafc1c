"""NovaSettings and SecretSettings: the model, the environment, the order, one complete error."""

from __future__ import annotations

import subprocess
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict
from pydantic_settings import SettingsError as UpstreamSettingsError

from nova_config import (
    EnvironmentNameError,
    NovaSettings,
    SecretFieldError,
    SecretSettings,
    SettingsError,
    SettingsSourceError,
    SourceOrderError,
    secret,
)
from nova_config.hidden import HiddenDict
from tests.support.data import VALID, WEBHOOK, valid_kwargs
from tests.support.helpers import write


def test_required_secrets_are_secretstr(valid_env: dict[str, str]) -> None:
    """Every secret field is a SecretStr; plain settings have their defaults."""
    settings = NovaSettings()
    assert isinstance(settings.discord_webhook_url, SecretStr)
    assert isinstance(settings.timescale_password, SecretStr)
    assert isinstance(settings.alpaca_api_key, SecretStr)
    assert settings.alpaca_secret_key is None
    assert (settings.timescale_host, settings.timescale_port) == ("localhost", 5432)
    assert (settings.timescale_user, settings.timescale_db) == ("postgres", "nova_aetus")
    assert settings.environment == "development"
    assert settings.source_of("timescale_host").source == "default"
    assert settings.source_of("environment").source == "default"


def test_every_missing_secret_in_one_error() -> None:
    """With nothing set, one SettingsError names all three required secrets."""
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    error = excinfo.value
    assert isinstance(error, ValueError)
    assert [(p.variable, p.kind) for p in error.problems] == [
        ("DISCORD_WEBHOOK_URL", "missing"),
        ("TIMESCALE_PASSWORD", "missing"),
        ("ALPACA_API_KEY", "missing"),
    ]
    text = str(error)
    assert text.startswith("NovaSettings could not be loaded (development): 3 problems")
    assert "environment variables DEVELOPMENT_ALPACA_API_KEY, ALPACA_API_KEY" in text
    assert "db_password" in text  # the alias is among the places tried


def test_missing_and_invalid_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing secret and an invalid one appear in the same error."""
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "https://example.com/api/webhooks/1/x")
    monkeypatch.setenv("TIMESCALE_PORT", "not-a-port")
    monkeypatch.setenv("ALPACA_API_KEY", VALID["ALPACA_API_KEY"])
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    kinds = {p.variable: p.kind for p in excinfo.value.problems}
    assert kinds == {
        "TIMESCALE_PASSWORD": "missing",
        "DISCORD_WEBHOOK_URL": "invalid",
        "TIMESCALE_PORT": "invalid",
    }


def test_error_hides_pydantic_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic's ValidationError (which keeps inputs) is neither cause nor context of the error.

    The error is a ValidationError itself, for `except ValidationError` code, whose line errors
    carry the messages and a placeholder where pydantic keeps the input.
    """
    monkeypatch.setenv("TIMESCALE_PORT", "99999")
    with pytest.raises(ValidationError) as excinfo:
        NovaSettings(**valid_kwargs(alpaca_api_key="AKCANARY0123456789"))
    error = excinfo.value
    assert isinstance(error, SettingsError)
    assert error.__cause__ is None
    assert error.__context__ is None
    assert "TIMESCALE_PORT (env: TIMESCALE_PORT) is invalid: Input should be less than" in str(
        error
    )
    (line,) = error.errors()
    assert line["loc"] == ("timescale_port",)  # as pydantic locates it
    assert line["type"] == "less_than_equal"
    assert line["input"] == "[hidden]"
    assert "99999" not in error.json() + repr(error) + str(error)


@pytest.mark.parametrize("name", ["development", "test", "staging", "production", " Staging "])
def test_known_environments_are_accepted(
    name: str, monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """NOVA_ENV takes the four environments, case and surrounding spaces ignored."""
    monkeypatch.setenv("NOVA_ENV", name)
    settings = NovaSettings()
    assert settings.environment == name.strip().lower()
    assert settings.source_of("environment").location == "NOVA_ENV"


def test_unknown_environment_lists_the_allowed_ones(
    monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """NOVA_ENV=prod is an EnvironmentNameError that lists every allowed name."""
    monkeypatch.setenv("NOVA_ENV", "prod")
    with pytest.raises(EnvironmentNameError) as excinfo:
        NovaSettings()
    assert str(excinfo.value) == (
        "settings could not be loaded: NOVA_ENV must be one of development, test, staging, "
        "production (got a value that is none of them)"
    )


def test_environment_argument_beats_nova_env(
    monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """NovaSettings(environment=...) overrides NOVA_ENV and selects the prefix."""
    monkeypatch.setenv("NOVA_ENV", "production")
    monkeypatch.setenv("TEST_ALPACA_API_KEY", "AKTESTPREFIX")
    settings = NovaSettings(environment="test")
    assert settings.environment == "test"
    assert settings.alpaca_api_key.get_secret_value() == "AKTESTPREFIX"
    assert settings.source_of("environment").source == "init"


def test_init_kwargs_win_over_every_source(
    valid_env: dict[str, str], tmp_path: Path, secrets_dir: Path
) -> None:
    """Keyword arguments come first in the order."""
    write(secrets_dir / "alpaca_api_key", "AKFILE\n")
    settings = NovaSettings(alpaca_api_key="AKINIT")
    assert settings.alpaca_api_key.get_secret_value() == "AKINIT"
    origin = settings.source_of("alpaca_api_key")
    assert (origin.source, origin.location) == ("init", "keyword argument alpaca_api_key")


def test_unknown_keyword_is_reported() -> None:
    """A keyword that is no setting is part of the one error."""
    with pytest.raises(SettingsError, match="alpaca_key is not a setting of NovaSettings"):
        NovaSettings(**valid_kwargs(alpaca_key="x"))


def test_nova_sources_restricts_and_orders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """NOVA_SOURCES=dotenv,env reads .env first and ignores secret files."""
    write(tmp_path / ".env", "ALPACA_API_KEY=AKDOTENVFIRST\n")
    monkeypatch.setenv("NOVA_SOURCES", "dotenv, env")
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKDOTENVFIRST"
    assert settings.source_of("timescale_password").source == "env"
    assert settings.resolution.sources == ("dotenv", "env")


def test_nova_sources_without_a_source_leaves_secrets_missing(
    monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """Leaving env out of NOVA_SOURCES means environment variables are not read."""
    monkeypatch.setenv("NOVA_SOURCES", "files")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert {p.kind for p in excinfo.value.problems} == {"missing"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("env,consul", r"unknown source 'consul'; choose from env, files, vault, (aws, )?dotenv"),
        ("env,env", "names a source twice"),
        (" , ", "names no source"),
    ],
)
def test_invalid_nova_sources(value: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOVA_SOURCES with an unknown, repeated or no source is a SourceOrderError."""
    monkeypatch.setenv("NOVA_SOURCES", value)
    with pytest.raises(SourceOrderError, match=expected):
        NovaSettings()


def test_settings_are_frozen(valid_env: dict[str, str]) -> None:
    """A loaded value cannot be reassigned behind its provenance's back."""
    settings = NovaSettings()
    with pytest.raises(ValidationError):
        settings.alpaca_api_key = SecretStr("other")  # type: ignore[misc]


def test_source_of_unknown_field() -> None:
    """source_of names the class and the unknown field."""
    settings = NovaSettings(**valid_kwargs())
    with pytest.raises(KeyError, match="NovaSettings has no setting 'nope'"):
        settings.source_of("nope")


def test_timescale_dsn_quotes_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DSN is a SecretStr, with the password URL-quoted and an IPv6 host bracketed."""
    monkeypatch.setenv("TIMESCALE_HOST", "::1")
    settings = NovaSettings(
        discord_webhook_url=WEBHOOK, alpaca_api_key="AK1", timescale_password="p@ss:w/rd %#?"
    )
    dsn = settings.timescale_dsn()
    assert isinstance(dsn, SecretStr)
    assert dsn.get_secret_value() == (
        "postgresql://postgres:p%40ss%3Aw%2Frd%20%25%23%3F@[::1]:5432/nova_aetus"
    )
    assert "p@ss" not in repr(dsn)


class ShopSettings(SecretSettings):
    """Another application's settings, to prove the machinery is generic."""

    stripe_key: Annotated[SecretStr, secret(aliases=("stripe",), example="sk_test_placeholder")]
    region: str = "eu"


def test_any_subclass_gets_sources_and_aliases(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subclass's own fields, aliases and examples work like NovaSettings'."""
    write(secrets_dir / "Stripe", "sk_live_abcdef\n")
    settings = ShopSettings()
    assert settings.stripe_key.get_secret_value() == "sk_live_abcdef"
    assert settings.source_of("stripe_key").location == str(secrets_dir / "Stripe")
    assert "environment" not in ShopSettings.model_fields  # SecretSettings adds no field
    monkeypatch.setenv("NOVA_ENV", "production")
    with pytest.raises(SettingsError, match=r"STRIPE_KEY .* is invalid: is a placeholder"):
        ShopSettings(stripe_key="sk_test_placeholder")


def test_secret_marker_on_a_plain_str_is_refused() -> None:
    """secret() on a str field raises SecretFieldError when the class is defined."""
    with pytest.raises(
        SecretFieldError, match=r"Leaky\.token is marked secret but is not a SecretStr"
    ):

        class Leaky(SecretSettings):
            token: Annotated[str, secret()]


def test_import_is_light() -> None:
    """`import nova_config` loads neither the CLI nor any store SDK."""
    code = (
        "import sys, nova_config; "
        "print(sorted(m for m in ('hvac', 'boto3', 'botocore', 'nova_config.cli', "
        "'nova_config.example') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_empty_environment_is_an_error_that_says_so(
    monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """NOVA_ENV set but empty (a compose file's unset variable) is refused, not taken as default."""
    monkeypatch.setenv("NOVA_ENV", "")
    with pytest.raises(EnvironmentNameError, match=r"production \(it is empty\)"):
        NovaSettings()


class _Database(BaseModel):
    host: str = "localhost"
    port: int = 5432
    password: SecretStr = SecretStr("unset")


class _Nested(SecretSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__")

    database: _Database = _Database()


def test_each_part_of_a_nested_value_names_its_own_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A nested model merged from two sources: `source_of("database.host")` names each part."""
    monkeypatch.setenv("DATABASE__HOST", "db.internal")
    settings = _Nested(database={"password": "pw-from-code"})
    assert settings.database.host == "db.internal"
    assert settings.database.password.get_secret_value() == "pw-from-code"
    assert settings.source_of("database.host") == ("env", "DATABASE__HOST", None)
    assert settings.source_of("database.password") == ("init", "keyword argument database", None)
    assert settings.source_of("database.port") == ("default", "default value", None)
    assert settings.source_of("database").source == "init"  # the highest-priority part
    with pytest.raises(KeyError, match=r"no setting 'nothing\.host'"):
        settings.source_of("nothing.host")


def test_a_nested_value_given_as_json_names_its_variable_for_each_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parts of a JSON value come from that one variable; parts it leaves out are defaults."""
    monkeypatch.setenv("DATABASE", '{"host": "h2", "password": "pw-json"}')
    settings = _Nested()
    assert settings.source_of("database.host") == ("env", "DATABASE", None)
    assert settings.source_of("database.password") == ("env", "DATABASE", None)
    assert settings.source_of("database.port") == ("default", "default value", None)


def test_a_value_that_is_not_json_is_one_named_error_and_pydantic_settings_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Invalid JSON for a nested model: nova's error and pydantic-settings', nothing chained."""
    monkeypatch.setenv("DATABASE", '{"password": "CANARYjson0123456"')
    with pytest.raises(UpstreamSettingsError) as excinfo:
        _Nested()
    error = excinfo.value
    assert isinstance(error, SettingsSourceError)
    assert 'error parsing value for field "database" from source "EnvSettingsSource"' in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None
    assert "CANARYjson" not in str(error) + repr(error) + error.json()


def test_a_command_line_pydantic_settings_cannot_parse_is_named_without_its_arguments() -> None:
    """pydantic-settings' CLI source quotes an argument it cannot parse: only the type shows."""

    class Cli(SecretSettings):
        token: SecretStr = SecretStr("unset")

    # Hidden in this frame too: the traceback walked below includes the test's own frame.
    options: dict[str, Any] = HiddenDict(
        {"_cli_parse_args": ["--bogus", "CANARYcli0123456"], "_cli_exit_on_error": False}
    )
    with pytest.raises(UpstreamSettingsError) as excinfo:
        Cli(**options)
    error = excinfo.value
    assert isinstance(error, SettingsSourceError)
    assert "the settings source set-up failed (SettingsError)" in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None
    text = "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    assert "CANARYcli" not in text + repr(error) + error.json()
