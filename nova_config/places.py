"""Where sources find fields: each value's provenance, and where a load looked for a missing one.

A pydantic-settings source does not say which variable or file it read a field from; these
functions work it out from the source's own settings (prefix, case, aliases, files), as
pydantic-settings itself names them, so that `source_of()` and the missing-field message name
the place a person would look.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from pydantic_settings import (
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
)

from nova_config.compose import EnvironmentLayer
from nova_config.errors import Problem
from nova_config.provenance import Provenance

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo
    from pydantic_settings import BaseSettings

    from nova_config.fields import FieldPlan
    from nova_config.resolve import Load

# Per class and its fields (a rebuilt model has new FieldInfo objects), worked out once rather
# than on every load; weakly, so that a class that goes away is not kept alive.
_FIELD_KEYS: WeakKeyDictionary[type[Any], tuple[int, dict[str, str]]] = WeakKeyDictionary()


def part_provenance(
    source: PydanticBaseSettingsSource, field: str, parts: tuple[str, ...], load: Load
) -> Provenance:
    """Where a source found one part of a nested value: its own variable, or the field's."""
    whole = provenance_of(source, field, field, load)
    delimiter = getattr(source, "env_nested_delimiter", None)
    env_vars = getattr(source, "env_vars", None)
    if delimiter and env_vars is not None and isinstance(source, EnvSettingsSource):
        name = source.env_prefix + delimiter.join((field, *parts))
        if not source.case_sensitive:
            name = name.lower()
        if name in env_vars:
            shown = name if source.case_sensitive else name.upper()
            if isinstance(source, EnvironmentLayer):
                shown = source.prefix + shown
            if isinstance(source, DotEnvSettingsSource):
                shown = f"{shown} in {whole.location.partition(' in ')[2]}"
            return whole._replace(location=shown)
    return whole


def field_keys(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Every key a source may give a field under (name, aliases, lower case), to the field."""
    fields = settings_cls.model_fields
    cached = _FIELD_KEYS.get(settings_cls)
    if cached is not None and cached[0] == id(fields):
        return cached[1]
    keys: dict[str, str] = {}
    for name, field in fields.items():
        for key in _names_of(name, field):
            keys.setdefault(key, name)
            keys.setdefault(key.lower(), name)
    _FIELD_KEYS[settings_cls] = (id(fields), keys)
    return keys


def _names_of(name: str, field: FieldInfo) -> list[str]:
    from pydantic import AliasChoices  # noqa: PLC0415 - loaded with pydantic anyway

    names = [name]
    for alias in (field.validation_alias, field.alias):
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        for choice in choices:
            if isinstance(choice, str):
                names.append(choice)
            elif choice is not None and getattr(choice, "path", None):
                first = choice.path[0]  # an AliasPath: its first step is the input key
                if isinstance(first, str):
                    names.append(first)
    return names


def provenance_of(
    source: PydanticBaseSettingsSource, field: str, key: str, load: Load
) -> Provenance:
    """Where a source found a field: its name and the variable, file, path or key."""
    name = next((n for n, s in load.consulted if s is source), type(source).__name__)
    found = getattr(source, "found_for", None)
    if callable(found):
        location, version = found(field)
        return Provenance(name, location, version)
    if isinstance(source, InitSettingsSource):
        return Provenance("init", f"keyword argument {key}")
    if isinstance(source, EnvSettingsSource) and not isinstance(source, DotEnvSettingsSource):
        variable = _variable_of(source, field)
        if isinstance(source, EnvironmentLayer):
            variable = source.prefix + variable
        return Provenance(name, variable)
    if isinstance(source, DotEnvSettingsSource):
        files = source.env_file if isinstance(source.env_file, list | tuple) else [source.env_file]
        return Provenance(name, f"{_variable_of(source, field)} in {', '.join(map(str, files))}")
    if isinstance(source, SecretsSettingsSource):
        return Provenance(name, f"{_variable_of(source, field)} in {source.secrets_dir}")
    return Provenance(name, type(source).__name__)


def _variable_of(source: Any, field: str) -> str:
    """The variable (or file) name an env-style source read a field under, as people write it."""
    env_vars = getattr(source, "env_vars", {})
    plain = source.env_prefix + field
    if not source.case_sensitive:
        plain = plain.lower()
    if plain in env_vars:  # the usual case, without asking pydantic-settings for every name
        return str(plain if source.case_sensitive else plain.upper())
    info = source.settings_cls.model_fields[field]
    names = [env for _, env, _ in source._extract_field_info(info, field)]
    name = next((n for n in names if n in env_vars), names[0] if names else field)
    return name if source.case_sensitive else name.upper()


def places_of(load: Load, plan: FieldPlan, settings_cls: type[BaseSettings]) -> list[str]:
    """Where the load looked for a field, source by source, for the missing-field message."""
    places: list[str] = []
    for name, source in load.consulted:
        if name in load.failed:
            places.append(f"{load.failed[name]} (not read)")
            continue
        where = getattr(source, "places_for", None)
        if callable(where):
            places.append(where(plan))
        elif isinstance(source, EnvironmentLayer):
            continue  # named on the line of the plain names, before them
        elif isinstance(source, EnvSettingsSource) and not isinstance(source, DotEnvSettingsSource):
            info = settings_cls.model_fields[plan.name]
            names = [env for _, env, _ in source._extract_field_info(info, plan.name)]
            shown = [n if source.case_sensitive else n.upper() for n in names]
            # The per-environment layer reads the same names with the environment's prefix
            # (it is built only when such a variable is set, but always looked in).
            shown = [load.environment.upper() + "_" + n for n in shown] + shown
            kind = "environment variables" if len(shown) > 1 else "environment variable"
            places.append(f"{kind} {', '.join(dict.fromkeys(shown))}")
        elif isinstance(source, DotEnvSettingsSource):
            places.append(f"{plan.variable} in {source.env_file}")
        elif isinstance(source, SecretsSettingsSource):
            places.append(f"a file named {plan.name} in {source.secrets_dir}")
    places.extend(load.skipped.values())
    return places


def missing_problem(load: Load, plan: FieldPlan, settings_cls: type[BaseSettings]) -> Problem:
    """The problem of a required field that no source holds, with every place looked in."""
    places = "".join(f"\n  {place}" for place in places_of(load, plan, settings_cls))
    return Problem(
        plan.variable,
        f"{plan.variable} is missing; set it in one of the places looked in:{places}",
        "missing",
    )


__all__ = [
    "field_keys",
    "missing_problem",
    "part_provenance",
    "places_of",
    "provenance_of",
]
