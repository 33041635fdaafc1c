"""The order of a `SecretSettings` load: nova-config's sources among pydantic-settings' own.

Keyword arguments, env with its per-environment layer, secret folders, Vault, AWS, `.env`, then
defaults; or NOVA_SOURCES' order. The per-environment layer reads what upstream's env source
reads, from the variables that carry the environment's prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_settings import (
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
)

# pydantic-settings' default source, and the state its sources share in one load, which it does
# not export; used as its `_settings_init_sources` uses them.
from pydantic_settings.sources.base import DefaultSettingsSource
from pydantic_settings.sources.utils import InitState

from nova_config.resolve import CURRENT, Load
from nova_config.sources import gate_reason

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

logger = logging.getLogger("nova_config")

# Why `.env` was not read when the load was given `_env_file=None`; `reload()` passes the option
# again when a record says so.
DOTENV_OFF = ".env files are not read (_env_file=None)"


class EnvironmentLayer(EnvSettingsSource):
    """The per-environment layer of env: `STAGING_` in front of the whole name env would read.

    It reads what upstream's env source reads (prefix, aliases, nested delimiter, JSON) from the
    variables that start with the environment's prefix, the prefix taken off. A variable whose
    whole name is itself one env reads for a field (`TEST_MODE` for a field `test_mode`) stays
    that field's: the plain name wins, so a variable never sets two fields.
    """

    def __init__(self, base: EnvSettingsSource, environment: str) -> None:
        self.base = base
        self.prefix = environment.upper() + "_"
        super().__init__(
            base.settings_cls,
            case_sensitive=base.case_sensitive,
            env_prefix=base.env_prefix,
            env_nested_delimiter=base.env_nested_delimiter,
            env_nested_max_split=base.env_nested_max_split,
            env_ignore_empty=base.env_ignore_empty,
            env_parse_none_str=base.env_parse_none_str,
            env_parse_enums=base.env_parse_enums,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        prefix = self.prefix if self.base.case_sensitive else self.prefix.lower()
        cut = len(prefix)
        layer = {k[cut:]: v for k, v in self.base.env_vars.items() if k.startswith(prefix)}
        if layer:
            plain = set(plain_names(self.base))
            for key in [k for k in layer if prefix + k in plain]:
                del layer[key]
        return layer

    def __repr__(self) -> str:
        return f"EnvironmentLayer(prefix={self.prefix!r})"


def plain_names(source: EnvSettingsSource) -> list[str]:
    """Every variable name (as env_vars keys it) that an env source reads for some field."""
    names: list[str] = []
    for name, field in source.settings_cls.model_fields.items():
        names.extend(env for _, env, _ in source._extract_field_info(field, name))
    return names


def compose(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The default order of a SecretSettings load, or NOVA_SOURCES' order.

    Keyword arguments always come first; then env (its per-environment layer over the plain
    names), secret folders (`secrets_dir` as upstream reads it, when set, then nova's folders),
    Vault, AWS and `.env` (the `env_file` upstream reads when one is configured, else nova's
    `.env` with its per-environment layer). Defaults come last, added by pydantic-settings.
    """
    load = CURRENT.get()
    if load is None:  # not inside SecretSettings.__init__ (a direct call): upstream's order
        return init_settings, env_settings, dotenv_settings, file_secret_settings
    upstream = {"env": env_settings, "files": file_secret_settings, "dotenv": dotenv_settings}
    return _compose(settings_cls, load, init_settings, upstream.__getitem__)


def own_sources(
    settings_cls: type[BaseSettings], load: Load, init_kwargs: dict[str, Any]
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources of a load in nova-config's own order, for a model that keeps that order.

    What pydantic-settings' `_settings_init_sources` gives such a model when no `_` option is
    passed, except that its built-in sources are made only when the order consults them, and
    keyword arguments only when there are some: each reads all of `os.environ` or walks every
    field's aliases, which together cost about a tenth of a load from a nearby Vault. Each is
    made as upstream makes it with no option given: from the model's config.
    """
    state: InitState = {"field_info_ids": set()}

    def built_in(name: str) -> PydanticBaseSettingsSource:
        # Called once per name at most: NOVA_SOURCES names each source once.
        return _BUILT_IN[name](settings_cls, _init_state=state)

    init = (
        InitSettingsSource(settings_cls, init_kwargs=init_kwargs, _init_state=state)
        if init_kwargs
        else None
    )
    sources = _compose(settings_cls, load, init, built_in)
    sources += (DefaultSettingsSource(settings_cls, _init_state=state),)
    settings_cls._settings_warn_unused_config_keys(sources, settings_cls.model_config)
    return sources


_BUILT_IN: dict[str, type[PydanticBaseSettingsSource]] = {
    "env": EnvSettingsSource,
    "dotenv": DotEnvSettingsSource,
    "files": SecretsSettingsSource,
}


def _compose(
    settings_cls: type[BaseSettings],
    load: Load,
    init: PydanticBaseSettingsSource | None,
    upstream: Callable[[str], PydanticBaseSettingsSource],
) -> tuple[PydanticBaseSettingsSource, ...]:
    chosen: list[tuple[str, PydanticBaseSettingsSource]] = [] if init is None else [("init", init)]
    for name in load.order:
        reason = gate_reason(name, load.environ)
        if reason is not None:
            load.skipped[name] = reason
        else:
            chosen.extend(
                (name, source) for source in _sources_for(name, settings_cls, load, upstream)
            )
    load.consulted.extend(chosen)
    return tuple(source for _, source in chosen)


def _sources_for(
    name: str,
    settings_cls: type[BaseSettings],
    load: Load,
    upstream: Callable[[str], PydanticBaseSettingsSource],
) -> list[PydanticBaseSettingsSource]:
    """The sources one name of the order stands for (none when the store is off)."""
    from nova_config.sources.settings_source import store_source  # noqa: PLC0415 - at the first load, not at import

    given = upstream(name) if name in _BUILT_IN else None
    if isinstance(given, EnvSettingsSource) and not isinstance(given, DotEnvSettingsSource):
        prefix = load.environment.upper() + "_"
        if not given.case_sensitive:
            prefix = prefix.lower()
        # The layer is built only when a variable has the prefix: most loads set none.
        if any(key.startswith(prefix) for key in given.env_vars):
            return [EnvironmentLayer(given, load.environment), given]
        return [given]
    if isinstance(given, DotEnvSettingsSource):
        if load.dotenv_disabled:
            load.skipped[name] = DOTENV_OFF
            return []
        if given.env_file is not None:
            return [given]  # the model's env_file, read as upstream reads it
    sources: list[PydanticBaseSettingsSource] = []
    if isinstance(given, SecretsSettingsSource) and given.secrets_dir is not None:
        sources.append(given)  # `secrets_dir` read as upstream reads it, then nova's folders
    store = store_source(name, settings_cls, load)
    if store.source is None:
        load.skipped[name] = store.skipped or f"{name} is off"
    else:
        sources.append(store)
    return sources


__all__ = ["DOTENV_OFF", "EnvironmentLayer", "compose", "own_sources", "plain_names"]
