"""`.env` files: the syntax people write, layering, line-numbered errors, production's refusal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from nova_config import NovaSettings, SettingsError
from tests.support.data import VALID, WEBHOOK
from tests.support.helpers import write

BASIC = f"DISCORD_WEBHOOK_URL={WEBHOOK}\nTIMESCALE_PASSWORD=pw-dotenv\nALPACA_API_KEY=AKDOTENV\n"


def test_real_world_syntax(tmp_path: Path) -> None:
    """`export`, both quotes, inline comments, and `=`/`#` inside quoted values all parse."""
    write(
        tmp_path / ".env",
        "# Nova Aetus secrets\n"
        "\n"
        f"export DISCORD_WEBHOOK_URL='{WEBHOOK}'\n"
        'TIMESCALE_PASSWORD="p=ss#word with spaces"  # the db password\n'
        "ALPACA_API_KEY=AKPLAIN123 # inline comment\n"
        "ALPACA_SECRET_KEY='single # quoted = value'\n"
        "TIMESCALE_HOST = db.internal\n",
    )
    settings = NovaSettings()
    assert settings.timescale_password.get_secret_value() == "p=ss#word with spaces"
    assert settings.alpaca_api_key.get_secret_value() == "AKPLAIN123"
    assert settings.alpaca_secret_key is not None
    assert settings.alpaca_secret_key.get_secret_value() == "single # quoted = value"
    assert settings.discord_webhook_url.get_secret_value() == WEBHOOK
    assert settings.timescale_host == "db.internal"


def test_provenance_names_file_and_line(tmp_path: Path) -> None:
    """The location of a .env value is its absolute path and 1-based line, past blank lines."""
    write(tmp_path / ".env", "\n\n# comment\n" + BASIC)
    origin = NovaSettings().source_of("alpaca_api_key")
    assert origin.source == "dotenv"
    assert origin.location == f"{tmp_path / '.env'}:6"


def test_values_are_not_exported_to_the_process(tmp_path: Path) -> None:
    """Reading a .env never writes into os.environ."""
    write(tmp_path / ".env", BASIC)
    NovaSettings()
    assert "ALPACA_API_KEY" not in os.environ


def test_no_interpolation_of_dollar_braces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret containing `${...}` is kept as written, not expanded."""
    monkeypatch.setenv("HOME_SECRET", "expanded")
    write(tmp_path / ".env", BASIC + 'ALPACA_SECRET_KEY="a${HOME_SECRET}b"\n')
    key = NovaSettings().alpaca_secret_key
    assert key is not None
    assert key.get_secret_value() == "a${HOME_SECRET}b"


def test_environment_layer_overrides_base_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.env.staging` is layered over `.env` in staging; `.env.test` is not read there."""
    monkeypatch.setenv("NOVA_ENV", "staging")
    write(tmp_path / ".env", BASIC.replace("pw-dotenv", "base-pw-value"))
    write(tmp_path / ".env.staging", "ALPACA_API_KEY=AKSTAGINGLAYER\n")
    write(tmp_path / ".env.test", "TIMESCALE_PASSWORD=test-only-pw\n")
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKSTAGINGLAYER"
    assert settings.source_of("alpaca_api_key").location == f"{tmp_path / '.env.staging'}:1"
    assert settings.timescale_password.get_secret_value() == "base-pw-value"


def test_prefixed_name_inside_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In production-like staging, STAGING_X in a .env beats X in the same file."""
    monkeypatch.setenv("NOVA_ENV", "staging")
    write(tmp_path / ".env", BASIC + "STAGING_ALPACA_API_KEY=AKPREFIXED\n")
    assert NovaSettings().alpaca_api_key.get_secret_value() == "AKPREFIXED"


def test_environment_variable_beats_prefixed_dotenv_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source order comes before the prefix: plain env var beats STAGING_X in .env."""
    monkeypatch.setenv("NOVA_ENV", "staging")
    monkeypatch.setenv("ALPACA_API_KEY", "AKFROMENV")
    write(tmp_path / ".env", BASIC + "STAGING_ALPACA_API_KEY=AKPREFIXED\n")
    assert NovaSettings().alpaca_api_key.get_secret_value() == "AKFROMENV"


def test_nova_env_is_never_read_from_dotenv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """NOVA_ENV in a .env is ignored (with a warning): it decides which files are read."""
    write(tmp_path / ".env", "NOVA_ENV=production\n" + BASIC)
    with caplog.at_level(logging.WARNING, logger="nova_config"):
        settings = NovaSettings()
    assert settings.environment == "development"
    assert any("sets NOVA_ENV, which is ignored" in r.getMessage() for r in caplog.records)


def test_unparsable_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    """A line the parser cannot read is an error naming file and line, never its content."""
    write(tmp_path / ".env", BASIC + '\nALPACA_SECRET_KEY="unterminated-SECRETTEXT\n')
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    (problem,) = excinfo.value.problems
    assert problem.message.startswith(f"{tmp_path / '.env'}:5 cannot be parsed")
    assert "SECRETTEXT" not in str(excinfo.value)


def test_key_without_value_is_reported(tmp_path: Path) -> None:
    """A field's name alone on a line (no '=') is reported with file and line."""
    write(tmp_path / ".env", BASIC + "ALPACA_SECRET_KEY\n")
    with pytest.raises(SettingsError, match=r"\.env:4 names ALPACA_SECRET_KEY without '='"):
        NovaSettings()


def test_non_utf8_env_file_is_an_error(tmp_path: Path, valid_env: dict[str, str]) -> None:
    """A .env that is not UTF-8 is named in the error."""
    (tmp_path / ".env").write_bytes(b"ALPACA_SECRET_KEY=\xff\xfe\n")
    with pytest.raises(SettingsError, match=r"\.env is not UTF-8 text"):
        NovaSettings()


def test_nova_env_file_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOVA_ENV_FILE points at another file, and its .<environment> layer sits beside it."""
    path = write(tmp_path / "conf" / "app.env", BASIC)
    write(tmp_path / "conf" / "app.env.development", "ALPACA_API_KEY=AKLAYERED\n")
    write(tmp_path / ".env", "ALPACA_API_KEY=AKCWDFILE\n")
    monkeypatch.setenv("NOVA_ENV_FILE", str(path))
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKLAYERED"
    assert settings.source_of("timescale_password").location == f"{path}:2"


def test_nova_env_file_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """An explicit NOVA_ENV_FILE that does not exist is an error; a missing default is not."""
    monkeypatch.setenv("NOVA_ENV_FILE", str(tmp_path / "typo.env"))
    with pytest.raises(
        SettingsError, match=r"NOVA_ENV_FILE names .*typo\.env, which does not exist"
    ):
        NovaSettings()
    monkeypatch.delenv("NOVA_ENV_FILE")
    assert NovaSettings().source_of("alpaca_api_key").source == "env"


def test_production_refuses_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In production .env files are not read, and the error says why and how to allow it."""
    monkeypatch.setenv("NOVA_ENV", "production")
    write(tmp_path / ".env", BASIC)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert [p.variable for p in excinfo.value.problems] == [
        "DISCORD_WEBHOOK_URL",
        "TIMESCALE_PASSWORD",
        "ALPACA_API_KEY",
    ]
    assert "not read in production (NOVA_ALLOW_DOTENV=1 allows it)" in str(excinfo.value)
    assert excinfo.value.resolution is not None
    assert "dotenv" in excinfo.value.resolution.skipped


def test_production_reads_dotenv_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """NOVA_ALLOW_DOTENV=1 lets production read .env, with a warning in the log."""
    monkeypatch.setenv("NOVA_ENV", "production")
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    write(tmp_path / ".env", BASIC.replace("AKDOTENV", "AKPRODDOTENV7"))
    with caplog.at_level(logging.WARNING, logger="nova_config"):
        settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKPRODDOTENV7"
    assert any("in production" in r.getMessage() for r in caplog.records)


def test_secret_file_beats_dotenv(tmp_path: Path, secrets_dir: Path) -> None:
    """Source order: secret files come before .env files."""
    write(tmp_path / ".env", BASIC)
    write(secrets_dir / "alpaca_api_key", "AKFROMFILE\n")
    assert NovaSettings().alpaca_api_key.get_secret_value() == "AKFROMFILE"


def test_missing_message_lists_the_env_files_tried(tmp_path: Path) -> None:
    """A missing secret's message names the .env files looked in and which were not found."""
    write(tmp_path / ".env", "TIMESCALE_PASSWORD=x\n")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(discord_webhook_url=WEBHOOK)
    (problem,) = excinfo.value.problems
    assert problem.variable == "ALPACA_API_KEY"
    assert f"{tmp_path / '.env'}, {tmp_path / '.env.development'} (not found)" in problem.message
    assert VALID["ALPACA_API_KEY"] not in problem.message


def test_lowercase_name_in_dotenv_is_named_in_the_missing_message(tmp_path: Path) -> None:
    """A lowercase key is not read, and the missing message points at its file and line."""
    write(tmp_path / ".env", BASIC.replace("ALPACA_API_KEY=", "alpaca_api_key="))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    (problem,) = excinfo.value.problems
    assert problem.variable == "ALPACA_API_KEY"
    assert f"{tmp_path / '.env'}:3 has alpaca_api_key, but names are upper case" in problem.message


def test_production_warns_only_when_a_file_is_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    valid_env: dict[str, str],
) -> None:
    """With NOVA_ALLOW_DOTENV=1 but no .env file, production logs no warning about reading one."""
    monkeypatch.setenv("NOVA_ENV", "production")
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    with caplog.at_level(logging.WARNING, logger="nova_config"):
        NovaSettings()
    assert caplog.records == []
