"""The sources of a load in nova-config's own order: as pydantic-settings makes them, made lazily.

`compose.own_sources` makes pydantic-settings' built-in sources itself, only when the order
consults them, instead of letting `_settings_init_sources` make all of them first. Each one it
makes must be the one upstream would have made for the model's config, so these tests build
both for the same models and compare them attribute by attribute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from nova_config import NovaSettings, SecretSettings
from nova_config.compose import own_sources
from nova_config.resolve import CURRENT, Load

# State a source gets while a load runs, or a reference to its class: not part of how it is made.
NOT_COMPARED = frozenset(
    {"_init_state", "_current_state", "_settings_sources_data", "settings_cls"}
)

CONFIGS: dict[str, SettingsConfigDict] = {
    "defaults": SettingsConfigDict(),
    "prefix, case-sensitive": SettingsConfigDict(env_prefix="APP_", case_sensitive=True),
    "nested and parsing options": SettingsConfigDict(
        env_nested_delimiter="__",
        env_nested_max_split=1,
        env_ignore_empty=True,
        env_parse_none_str="null",
        env_parse_enums=False,
    ),
    "env_file": SettingsConfigDict(env_file=".env.compose-test", env_file_encoding="latin-1"),
    "secrets_dir, partial updates": SettingsConfigDict(
        secrets_dir="/nonexistent/compose-test", nested_model_default_partial_update=True
    ),
}


class Part(BaseModel):
    host: str = "localhost"
    port: int = 5432


def model_for(config: SettingsConfigDict) -> type[SecretSettings]:
    """A SecretSettings model with a secret, a plain field, a nested one, and `config`."""
    return type(
        "ComposeModel",
        (SecretSettings,),
        {
            "__annotations__": {"api_token": SecretStr, "port": int, "part": Part},
            "model_config": SettingsConfigDict(**config),
            "api_token": SecretStr("compose-default"),
            "port": 1,
            "part": Part(),
        },
    )


@contextmanager
def load_of(model: type[BaseSettings]) -> Iterator[Load]:
    """A load under way for `model`, as SecretSettings.__init__ starts one."""
    load = Load("tests:ComposeModel", (), "development", os.environ)
    token = CURRENT.set(load)
    try:
        yield load
    finally:
        CURRENT.reset(token)


def made_as(source: PydanticBaseSettingsSource) -> dict[str, Any]:
    return {k: v for k, v in vars(source).items() if k not in NOT_COMPARED}


@pytest.mark.parametrize("kwargs", [{}, {"port": 7}], ids=["no keyword", "a keyword"])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_each_source_is_made_as_pydantic_settings_makes_it(
    config: SettingsConfigDict, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_SOURCES", "env,files,dotenv")
    monkeypatch.setenv("PORT", "9")
    model = model_for(config)
    with load_of(model):
        upstream, _ = model._settings_init_sources(_init_kwargs=dict(kwargs))
    with load_of(model):
        ours = own_sources(model, CURRENT.get() or pytest.fail("no load"), dict(kwargs))
    if not kwargs:  # keyword arguments give nothing when there are none: not made
        upstream = tuple(s for s in upstream if not isinstance(s, InitSettingsSource))
    assert [type(s) for s in ours] == [type(s) for s in upstream]
    for mine, theirs in zip(ours, upstream, strict=True):
        if type(mine).__module__.startswith("pydantic_settings."):  # nova's own: made by compose
            assert made_as(mine) == made_as(theirs), type(mine).__name__
    built_in = [s for s in ours if type(s).__module__.startswith("pydantic_settings.")]
    assert len(built_in) >= 2  # env and defaults; the model's env_file or secrets_dir if set
    # One state shared by pydantic-settings' sources in the load, as upstream shares it.
    assert len({id(s._init_state) for s in built_in}) == 1


def test_a_load_that_does_not_consult_env_makes_no_env_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The env source reads all of os.environ when made: an order without env never makes it."""
    monkeypatch.setenv("NOVA_SOURCES", "files")
    model = model_for(SettingsConfigDict())
    with load_of(model) as load:
        sources = own_sources(model, load, {})
    assert not any(isinstance(source, EnvSettingsSource) for source in sources)
    monkeypatch.setenv("NOVA_SOURCES", "env")
    with load_of(model) as load:
        sources = own_sources(model, load, {})
    assert sum(type(source) is EnvSettingsSource for source in sources) == 1


def test_only_models_that_keep_nova_configs_order_take_the_own_sources() -> None:
    reordered: type[SecretSettings] = type(
        "Reordered",
        (SecretSettings,),
        {
            "__annotations__": {"token": SecretStr},
            "token": SecretStr("x"),
            # Any override counts, whatever it returns.
            "settings_customise_sources": classmethod(lambda cls, *sources, **named: sources),
        },
    )

    class WithCli(SecretSettings):
        model_config = SettingsConfigDict(cli_parse_args=["--token", "y"])
        token: SecretStr = SecretStr("x")

    assert NovaSettings.__nova_own_order__
    assert model_for(SettingsConfigDict(env_prefix="APP_")).__nova_own_order__
    assert not reordered.__nova_own_order__
    assert not WithCli.__nova_own_order__
