"""The merge of a `SecretSettings` load, as pydantic-settings merges, with provenance kept.

Each source is called once, highest priority first; what it gives is merged as pydantic-settings
merges it, kept in containers whose repr hides the values, and recorded field by field (and part
by part for nested models) in the load under way. A source that raises becomes one named error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from pydantic_settings import (
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
)

# pydantic-settings' own default source and merge, which it does not export; used as it uses them.
from pydantic_settings.exceptions import SettingsError as UpstreamSettingsError
from pydantic_settings.sources.base import DefaultSettingsSource

from nova_config.errors import (
    Problem,
    SettingsError,
    SettingsSourceError,
)
from nova_config.fields import FieldPlan
from nova_config.hidden import HiddenDict
from nova_config.provenance import Provenance

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo
    from pydantic_settings import BaseSettings


from nova_config.compose import EnvironmentLayer
from nova_config.resolve import CURRENT, Load

logger = logging.getLogger("nova_config")


def build_values(
    settings_cls: type[BaseSettings],
    sources: tuple[PydanticBaseSettingsSource, ...],
    init_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Run each source once, highest priority first, and merge as pydantic-settings does.

    Also records, per field, the source that gave its value, in the load under way.
    """
    from pydantic._internal._utils import deep_update  # noqa: PLC0415 - pydantic-settings' merge

    load = CURRENT.get()
    state: dict[str, Any] = HiddenDict()
    defaults: dict[str, Any] = {}
    states: dict[str, dict[str, Any]] = HiddenDict()
    keys = field_keys(settings_cls)
    for source in sources:
        if isinstance(source, PydanticBaseSettingsSource):  # a custom source may be a function
            source._set_current_state(state)
            source._set_settings_sources_data(states)
        name = getattr(source, "__name__", type(source).__name__)
        # Held in a HiddenDict from the start: a later source that raises leaves this frame's
        # locals to error trackers.
        source_state: dict[str, Any] = HiddenDict(_call(source, name, settings_cls, load))
        if isinstance(source, DefaultSettingsSource):
            defaults = source_state
        states[name] = source_state
        if load is not None:
            _record(load, source, source_state, keys)
        state = HiddenDict(deep_update(source_state, state))
    state = HiddenDict(
        {key: val for key, val in state.items() if key not in defaults or defaults[key] != val}
    )
    if load is not None:
        load.merged(state)
    last = sources[-1] if sources else None
    if isinstance(last, PydanticBaseSettingsSource) and init_kwargs:
        settings_cls._settings_restore_init_kwarg_names(
            settings_cls,
            init_kwargs,
            state,
            last._init_state,
        )
    return state


_PARSE_FAILED = re.compile(r'error parsing value for field "([^"]+)" from source "([^"]+)"')
# pydantic-settings' own wordings that name a field, a source or a folder and never a value.
# Others are not shown: its CLI source, for one, quotes the argument it could not parse.
_SAFE_WORDING = re.compile(
    r'error (?:parsing|getting) value for field "[^"]+" from source "[^"]+"'
    r'|directory "[^"]*" does not exist'
    r"|secrets_dir must reference a directory, not an? [\w ]+"
    r"|secrets_dir size is above \d+ bytes"
    r"|secrets_dir has more than \d+ entries"
    r"|invalid secrets_dir_missing value: \w+"
    r"|Options secrets_nested_delimiter and secrets_nested_subdir are mutually exclusive"
)


def _call(
    source: Any, name: str, settings_cls: type[BaseSettings], load: Load | None
) -> dict[str, Any]:
    """One source's values; what it raises becomes nova-config's error, with nothing chained.

    Raises:
        SettingsError: the source failed; the message names the field and the source.
    """
    try:
        return dict(source())
    except SettingsError:
        raise  # nova-config's own: a store's configuration
    except Exception as exc:  # any source's failure becomes one named error
        error = source_failure(exc, name, settings_cls, load)
    raise error  # outside the handler, so that nothing is chained


def source_failure(
    exc: Exception, name: str, settings_cls: type[BaseSettings], load: Load | None
) -> SettingsSourceError:
    """nova-config's error for what a pydantic-settings source (or its set-up) raised.

    pydantic-settings' env and dotenv sources raise their own SettingsError when a value that
    must be JSON is not, chained from json's error, whose `.doc` is the value; its CLI source
    quotes the argument it could not parse. Only wordings known to name no value are kept, and
    the caller raises the result outside its handler, so nothing is chained.
    """
    safe = _SAFE_WORDING.fullmatch(str(exc)) if isinstance(exc, UpstreamSettingsError) else None
    said = safe.group(0) if safe else None
    parsed = _PARSE_FAILED.fullmatch(said) if said else None
    field = parsed.group(1) if parsed else None
    plans = {plan.name: plan for plan in (load.plans if load else ())}
    variable = plans[field].variable if field in plans else field
    if parsed and variable:
        message = f"{variable} ({name}) is not valid JSON for its type ({parsed.group(0)})"
    elif said:
        message = f"the settings source {name} failed: {said}"
    else:
        message = f"the settings source {name} failed ({type(exc).__name__})"
    logger.debug("%s: %s", settings_cls.__name__, message)
    return SettingsSourceError(
        [Problem(variable, message, "source")],
        title=f"{settings_cls.__name__} could not be loaded",
        resolution=load.record() if load else None,
    )


def _record(
    load: Load, source: Any, source_state: Mapping[str, Any], keys: Mapping[str, str]
) -> None:
    """Provenance for the fields a source gave that no source before it gave."""
    for key in source_state:
        field = keys.get(key)
        if field is None:
            continue
        if field not in load.provenance:
            load.provenance[field] = provenance_of(source, field, key, load)
        if isinstance(source_state[key], Mapping):
            # A nested model's parts, merged key by key: each part keeps its source.
            _record_parts(load, source, field, (), source_state[key])


# Per class and its fields (a rebuilt model has new FieldInfo objects), worked out once rather
# than on every load; weakly, so that a class that goes away is not kept alive.
_FIELD_KEYS: WeakKeyDictionary[type[Any], tuple[int, dict[str, str]]] = WeakKeyDictionary()


def _record_parts(
    load: Load,
    source: PydanticBaseSettingsSource,
    field: str,
    path: tuple[str, ...],
    value: Mapping[str, Any],
) -> None:
    """Provenance for each part of a nested value (`database.host`) not claimed before."""
    for key, inner in value.items():
        parts = (*path, str(key))
        if isinstance(inner, Mapping):
            _record_parts(load, source, field, parts, inner)
            continue
        dotted = ".".join((field, *parts))
        if dotted not in load.provenance:
            load.provenance[dotted] = _part_provenance(source, field, parts, load)


def _part_provenance(
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
    "build_values",
    "field_keys",
    "missing_problem",
    "places_of",
    "provenance_of",
    "source_failure",
]
