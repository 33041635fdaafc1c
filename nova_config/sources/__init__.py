"""The registry of sources: their names, their default order, and where their code lives."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from nova_config.sources.base import Found, LoadContext, Source, SourceResult

# name -> "module:Class". A new store is one new module and one line here; its module (and the
# SDK it needs) is imported only when a load uses it. `env` is pydantic-settings' own env
# source, with nova's per-environment layer over it (compose.py): it has no class here.
REGISTRY: dict[str, str | None] = {
    "env": None,
    "files": "nova_config.sources.files:FileSource",
    "vault": "nova_config.sources.vault:VaultSource",
    "aws": "nova_config.sources.aws:AwsSource",
    "dotenv": "nova_config.sources.dotenv:DotenvSource",
}

# Highest priority first; init keyword arguments always come before and defaults after.
DEFAULT_ORDER: tuple[str, ...] = ("env", "files", "vault", "aws", "dotenv")

# Stores that stay off (their module and SDK not even imported) unless their variable is set:
# every load would otherwise import them only to learn that they are off. A store named in
# NOVA_SOURCES passes the gate; its own skip_reason() then decides.
GATES: dict[str, str] = {"vault": "VAULT_ADDR", "aws": "NOVA_AWS_SECRET_ID"}

_loaded: dict[str, type[Source]] = {}


def gate_reason(name: str, environ: Mapping[str, str]) -> str | None:
    """Why a gated store is off in the default order, without importing it; None to ask it."""
    variable = GATES.get(name)
    if variable is None or variable in environ or "NOVA_SOURCES" in environ:
        return None
    return f"{name}: {variable} is not set"


def source_class(name: str) -> type[Source]:
    """Import and return the source class registered under `name`."""
    cls = _loaded.get(name)
    if cls is None:
        target = REGISTRY[name]
        if target is None:
            raise LookupError(f"{name} is pydantic-settings' own source, composed in compose.py")
        module_name, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
        _loaded[name] = cls
    return cls


__all__ = [
    "DEFAULT_ORDER",
    "GATES",
    "REGISTRY",
    "Found",
    "LoadContext",
    "Source",
    "SourceResult",
    "gate_reason",
    "source_class",
]
