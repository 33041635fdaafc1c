"""The registry of sources: their names, their default order, and where their code lives."""

from __future__ import annotations

import importlib

from nova_config.sources.base import Found, LoadContext, Source, SourceResult

# name -> "module:Class". A new store is one new module and one line here; its module (and the
# SDK it needs) is imported only when a load uses it.
REGISTRY: dict[str, str] = {
    "env": "nova_config.sources.env:EnvSource",
    "files": "nova_config.sources.files:FileSource",
    "vault": "nova_config.sources.vault:VaultSource",
    "aws": "nova_config.sources.aws:AwsSource",
    "dotenv": "nova_config.sources.dotenv:DotenvSource",
}

# Highest priority first; init keyword arguments always come before and defaults after.
DEFAULT_ORDER: tuple[str, ...] = ("env", "files", "vault", "aws", "dotenv")

_loaded: dict[str, type[Source]] = {}


def source_class(name: str) -> type[Source]:
    """Import and return the source class registered under `name`."""
    cls = _loaded.get(name)
    if cls is None:
        module_name, _, attr = REGISTRY[name].partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
        _loaded[name] = cls
    return cls


__all__ = [
    "DEFAULT_ORDER",
    "REGISTRY",
    "Found",
    "LoadContext",
    "Source",
    "SourceResult",
    "source_class",
]
