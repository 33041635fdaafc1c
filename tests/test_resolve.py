"""The resolution pass and the source contract: a new store is one module and one registry line."""

from __future__ import annotations

from typing import ClassVar

import pytest

from conftest import VALID
from nova_config import NovaSettings, SettingsError, SourceError
from nova_config.fields import FieldPlan
from nova_config.resolve import resolve
from nova_config.sources import REGISTRY, _loaded
from nova_config.sources.base import Found, LoadContext, Source, SourceResult


class MemorySource(Source):
    """A store held in a class attribute, standing in for a later one such as Vault."""

    name = "memory"
    data: ClassVar[dict[str, str]] = {}
    fail: ClassVar[bool] = False
    loads: ClassVar[int] = 0

    @classmethod
    def skip_reason(cls, context: LoadContext) -> str | None:
        return "memory store is off in production" if context.environment == "production" else None

    def load(self) -> SourceResult:
        type(self).loads += 1
        if self.fail:
            raise SourceError("memory store at mem://local is unavailable: switched off")
        result = SourceResult()
        for plan in self.context.fields:
            if plan.variable in self.data:
                result.found[plan.name] = Found(
                    self.data[plan.variable], f"mem://local#{plan.name}", "7"
                )
        return result

    def places(self, plan: FieldPlan) -> str:
        return f"mem://local#{plan.name}"

    def where(self) -> str:
        return "mem://local"


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> type[MemorySource]:
    """MemorySource registered under `memory`, empty, and used between env and dotenv."""
    monkeypatch.setitem(REGISTRY, "memory", f"{__name__}:MemorySource")
    monkeypatch.setitem(_loaded, "memory", MemorySource)
    monkeypatch.setattr(MemorySource, "data", {})
    monkeypatch.setattr(MemorySource, "fail", False)
    monkeypatch.setattr(MemorySource, "loads", 0)
    monkeypatch.setenv("NOVA_SOURCES", "env,memory,dotenv")
    return MemorySource


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
    """A store that cannot be read is reported in the same error as the missing secrets."""
    memory.fail = True
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    messages = [p.message for p in excinfo.value.problems]
    assert messages[0] == "memory store at mem://local is unavailable: switched off"
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
    assert production.value.resolution is not None
    assert production.value.resolution.skipped["memory"] == "memory store is off in production"


def test_source_repr_shows_where_not_what(memory: type[MemorySource]) -> None:
    """A source's repr names where it reads."""
    context = LoadContext("test", {}, NovaSettings.__nova_plans__)
    assert repr(MemorySource(context)) == "MemorySource(mem://local)"


def test_resolution_repr_names_fields_not_values() -> None:
    """The pass holds plain secrets, so its repr (what frame-locals capture shows) hides them."""

    outcome = resolve("t:T", NovaSettings.__nova_plans__, {}, dict(VALID))
    assert outcome.values["alpaca_api_key"] == VALID["ALPACA_API_KEY"]
    text = repr(outcome)
    assert "alpaca_api_key" in text
    for value in VALID.values():
        assert value not in text
