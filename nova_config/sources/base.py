"""The source contract: what a store returns, and what it is told about the load."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar, Literal, NamedTuple, get_args

from nova_config.errors import Problem
from nova_config.fields import FieldPlan

Environment = Literal["development", "test", "staging", "production"]
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)


class Found(NamedTuple):
    """A value a source found, with where it found it; the value never shows in a repr."""

    value: str
    location: str
    version: str | None = None

    def __repr__(self) -> str:
        return f"Found(location={self.location!r}, version={self.version!r})"


class SourceResult:
    """What one source found, and what was wrong with what it read."""

    __slots__ = ("found", "problems")

    def __init__(self) -> None:
        self.found: dict[str, Found] = {}
        self.problems: list[Problem] = []

    def __repr__(self) -> str:
        return f"SourceResult(found={sorted(self.found)!r}, problems={len(self.problems)})"


class LoadContext(NamedTuple):
    """What every source is told about the load it takes part in.

    Attributes:
        environment: one of `ENVIRONMENTS`.
        environ: the process environment (sources read their own configuration from it).
        fields: the plans of the fields to resolve.
    """

    environment: str
    environ: Mapping[str, str]
    fields: tuple[FieldPlan, ...]

    def __repr__(self) -> str:
        return f"LoadContext(environment={self.environment!r}, fields={len(self.fields)})"

    def plans_by_key(self) -> dict[str, FieldPlan]:
        """Each field's plan under every normalised name a store may give it (aliases too)."""
        return {key: plan for plan in self.fields for key in plan.file_keys}

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
        # Error trackers call repr() on `self` in the frame of a constructor that failed, before
        # the attributes where() reads exist.
        try:
            where = self.where()
        except AttributeError:
            where = "not configured"
        return f"{type(self).__name__}({where})"
