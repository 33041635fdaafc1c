"""The source contract: what a store returns, and what it is told about the load."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from nova_config.errors import Problem
from nova_config.fields import FieldPlan

ENVIRONMENTS = ("development", "test", "staging", "production")


@dataclass(frozen=True, slots=True)
class Found:
    """A value a source found, with where it found it; the value never shows in a repr."""

    value: str = field(repr=False)
    location: str
    version: str | None = None


@dataclass(slots=True)
class SourceResult:
    """What one source found, and what was wrong with what it read."""

    found: dict[str, Found] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoadContext:
    """What every source is told about the load it takes part in.

    Attributes:
        environment: one of `ENVIRONMENTS`.
        environ: the process environment (sources read their own configuration from it).
        fields: the plans of the fields to resolve.
    """

    environment: str
    environ: Mapping[str, str] = field(repr=False)
    fields: tuple[FieldPlan, ...]

    @property
    def prefix(self) -> str:
        """The per-environment variable prefix, such as `STAGING_`."""
        return self.environment.upper() + "_"


class Source(ABC):
    """One store: how to reach it, and how to read it in as few operations as possible.

    A source reports what it found and what was wrong with what it read; it does not decide
    whether a failure is fatal. It raises `SourceError` only when it cannot read anything.
    """

    name: ClassVar[str]

    def __init__(self, context: LoadContext) -> None:
        self.context = context

    @classmethod
    def skip_reason(cls, context: LoadContext) -> str | None:
        """Why this source is not consulted in this load, or None when it is."""
        del context
        return None

    @abstractmethod
    def load(self) -> SourceResult:
        """Read the store once and return every field it holds."""

    @abstractmethod
    def places(self, plan: FieldPlan) -> str:
        """Where this source looked for a field, for the message when the field is missing."""

    @abstractmethod
    def where(self) -> str:
        """Where this source reads (never what it read), for its repr."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where()})"
