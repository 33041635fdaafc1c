"""The resolution pass and the source contract: a new store is one module and one registry line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nova_config import NovaSettings, SettingsError
from nova_config.merge import build_values
from nova_config.resolve import CURRENT, Load
from nova_config.sources.base import LoadContext
from tests.support.data import STORE_PREFIXES, VALID
from tests.support.helpers import MemorySource


def test_registered_source_takes_its_place_with_versioned_provenance(
    memory: type[MemorySource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered source is read once per load, after env, and its version is kept."""
    memory.data = dict(VALID)
    monkeypatch.setenv("ALPACA_API_KEY", "AKFROMENV")
    settings = NovaSettings()
    assert memory.loads == 1
    assert settings.alpaca_api_key.get_secret_value() == "AKFROMENV"
    origin = settings.source_of("timescale_password")
    assert origin == ("memory", "mem://local#timescale_password", "7")
    assert str(origin) == "memory: mem://local#timescale_password (version 7)"
    assert settings.resolution.sources == ("env", "memory", "dotenv")


def test_source_error_joins_the_other_problems(memory: type[MemorySource]) -> None:
    """A store that cannot be read (and must not be) is reported with the missing secrets."""
    memory.fail = True
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings(environment="staging")
    messages = [p.message for p in excinfo.value.problems]
    assert messages[0] == (
        "memory store at mem://local is unavailable: switched off "
        "(the default in staging is to fail)"
    )
    assert [p.kind for p in excinfo.value.problems] == ["source", *["missing"] * 3]


def test_missing_message_names_the_new_store_and_why_it_was_skipped(
    memory: type[MemorySource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Places a source looked in, and the reason a source was skipped, reach the message."""
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    (alpaca,) = [p for p in excinfo.value.problems if p.variable == "ALPACA_API_KEY"]
    assert "\n  mem://local#alpaca_api_key\n" in alpaca.message
    monkeypatch.setenv("NOVA_ENV", "production")
    with pytest.raises(SettingsError) as production:
        NovaSettings()
    assert memory.loads == 1  # skipped in production: not constructed, not read
    assert "memory store is off in production" in str(production.value)
    assert "mem://local#alpaca_api_key" not in str(production.value)
    assert production.value.resolution is not None
    assert production.value.resolution.skipped["memory"] == "memory store is off in production"


def test_source_repr_shows_where_not_what(memory: type[MemorySource]) -> None:
    """A source's repr names where it reads."""
    context = LoadContext("test", {}, NovaSettings.__nova_plans__)
    assert repr(MemorySource(context)) == "MemorySource(mem://local)"


def test_merged_values_and_the_load_hide_their_values(valid_env: dict[str, str]) -> None:
    """The merged input holds plain secrets, so its repr (what frame locals show) hides them."""
    load = Load("t:T", NovaSettings.__nova_plans__, "development", dict(VALID))
    token = CURRENT.set(load)
    try:
        sources, init = NovaSettings._settings_init_sources()
        state = build_values(NovaSettings, sources, init)
    finally:
        CURRENT.reset(token)
    assert state["alpaca_api_key"] == valid_env["ALPACA_API_KEY"]
    assert load.values is state
    assert "alpaca_api_key" in repr(state)
    for value in VALID.values():
        assert value not in repr(state)
        assert value not in repr(load)


def test_gated_stores_are_not_imported_when_off() -> None:
    """Without VAULT_ADDR or NOVA_AWS_SECRET_ID a load never imports those stores (nor SDKs)."""
    code = (
        "import sys; from nova_config import NovaSettings; s = NovaSettings(); "
        "print(sorted(m for m in sys.modules if m.startswith(('nova_config.sources.', 'hvac', "
        "'boto3')))); print(sorted(s.resolution.skipped.items()))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(STORE_PREFIXES)} | VALID
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    modules, skipped = done.stdout.splitlines()
    loaded = ["adapter", "base", "common", "dotenv", "fileread", "files", "settings_source"]
    assert modules == str([f"nova_config.sources.{name}" for name in loaded])
    assert skipped == str(
        [("aws", "aws: NOVA_AWS_SECRET_ID is not set"), ("vault", "vault: VAULT_ADDR is not set")]
    )
