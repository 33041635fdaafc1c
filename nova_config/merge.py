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

from pydantic_settings import PydanticBaseSettingsSource

# pydantic-settings' own default source and merge, which it does not export; used as it uses them.
from pydantic_settings.exceptions import SettingsError as UpstreamSettingsError
from pydantic_settings.sources.base import DefaultSettingsSource

from nova_config.errors import Problem, SettingsError, SettingsSourceError
from nova_config.hidden import HiddenDict
from nova_config.places import field_keys, part_provenance, provenance_of
from nova_config.resolve import CURRENT, Load

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

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


_PARSE_FAILED = r'error parsing value for field "([^"]+)" from source "([^"]+)"'
# pydantic-settings' own wordings that name a field, a source or a folder and never a value.
# Others are not shown: its CLI source, for one, quotes the argument it could not parse. Both
# are compiled at the first failure, not at import (every process start would pay for it).
_SAFE_WORDING = (
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
    upstream = isinstance(exc, UpstreamSettingsError)
    safe = re.fullmatch(_SAFE_WORDING, str(exc)) if upstream else None
    said = safe.group(0) if safe else None
    parsed = re.fullmatch(_PARSE_FAILED, said) if said else None
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
            load.provenance[dotted] = part_provenance(source, field, parts, load)


__all__ = ["build_values", "source_failure"]
