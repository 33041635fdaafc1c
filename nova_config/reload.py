"""Reloading settings: a new instance from the same sources, and which fields changed."""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from nova_config.compose import DOTENV_OFF
from nova_config.errors import SettingsError
from nova_config.hidden import HiddenDict, HiddenEnviron
from nova_config.provenance import ResolutionRecord
from nova_config.resolve import environment_of
from nova_config.settings import SecretSettings
from nova_config.sources.adapter import input_key

_AUDIT = logging.getLogger("nova_config.audit")
# As every load reads it, through a view whose repr hides it (frame locals, error trackers).
_ENVIRON = HiddenEnviron(os.environ)

S = TypeVar("S", bound=SecretSettings)


def reload(settings: S) -> S:
    """A new instance of the same class from the same sources, for the same environment.

    Keyword arguments the instance was given are given again (their values, as validated), and
    so is `_env_file=None`; pydantic-settings' other `_` options are not known after a load.

    Raises:
        SettingsError: as construction does; or the instance was not loaded, or the process's
            NOVA_ENV now names another environment and the class has no environment field.
    """
    cls = type(settings)
    record = settings.resolution
    given: dict[str, Any] = HiddenDict()
    for name, origin in record.provenance.items():
        if origin.source == "init" and name in cls.model_fields:
            given[input_key(name, cls.model_fields[name])] = getattr(settings, name)
    field = cls.__nova_environment_field__
    if environment_of(given, _ENVIRON, field) != record.environment:
        if field is None:
            raise SettingsError(
                f"NOVA_ENV no longer names {record.environment}, the environment these "
                "settings were loaded for; they are not reloaded for another one"
            )
        given[field] = record.environment
    if record.skipped.get("dotenv") == DOTENV_OFF:
        given["_env_file"] = None
    return cls(**given)


def _plain(value: Any) -> Any:
    """A value as JSON can hold it, secrets revealed: only ever compared, never shown."""
    reveal = getattr(value, "get_secret_value", None)
    if callable(reveal):
        value = reveal()
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, Mapping):
        return {repr(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _canonical(value: Any) -> bytes:
    return json.dumps(_plain(value), sort_keys=True, default=repr).encode()  # ASCII, escaped


def changed_fields(old: SecretSettings, new: SecretSettings) -> frozenset[str]:
    """The fields whose values differ, compared in constant time (`hmac.compare_digest`)."""
    return frozenset(
        name
        for name in type(new).model_fields
        if not hmac.compare_digest(
            _canonical(getattr(old, name, None)), _canonical(getattr(new, name, None))
        )
    )


def audit_event(record: ResolutionRecord, event: dict[str, Any]) -> None:
    """Write one event (`settings_reloaded`, `reload_failed`) with a load's common keys to
    NOVA_AUDIT_LOG and the `nova_config.audit` logger, when either is on."""
    if "NOVA_AUDIT_LOG" not in _ENVIRON and not _AUDIT.isEnabledFor(logging.INFO):
        return
    from nova_config.audit import record_event  # noqa: PLC0415 - the audit code only when on

    record_event(record.settings, record.environment, _ENVIRON, event)


__all__ = ["audit_event", "changed_fields", "reload"]
