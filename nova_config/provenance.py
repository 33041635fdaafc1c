"""Where each value came from: the resolution record a load leaves behind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class Provenance(NamedTuple):
    """Where one field's value came from.

    Attributes:
        source: `init`, `env`, `files`, `vault`, `aws`, `dotenv` or `default`.
        location: the variable name, file path, `.env` path and line, or store path.
        version: the store's version of the value, where the store has one.
    """

    source: str
    location: str
    version: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}: {self.location}"
        return f"{where} (version {self.version})" if self.version else where


class ResolutionRecord(NamedTuple):
    """What one load resolved, field by field; it holds places and never values.

    Attributes:
        settings: the qualified name of the settings class.
        environment: the environment the load ran for.
        sources: the sources consulted, highest priority first.
        provenance: field name to where its value came from (absent when nothing was found).
        skipped: source name to why it was not consulted.
        failed: source name to why it could not be read (the failure policy decided whether
            the load went on without it).
    """

    settings: str
    environment: str
    sources: tuple[str, ...]
    provenance: Mapping[str, Provenance]
    skipped: Mapping[str, str]
    failed: Mapping[str, str]
