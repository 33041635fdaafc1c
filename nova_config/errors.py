"""The exception hierarchy of nova-config.

::

    SettingsError (ValueError)       the settings could not be loaded; .problems lists every cause
    ├── EnvironmentNameError         NOVA_ENV names no known environment
    ├── SourceOrderError             NOVA_SOURCES names an unknown source, or one twice
    ├── SourceConfigError            a store's own variables are invalid (always fatal)
    │   └── MissingExtraError        a store's SDK is not installed; names the pip extra
    └── SourceError                  one source could not be read at all; the failure policy
        │                            decides whether the load fails or goes on without it
        ├── StoreUnavailableError    unreachable, timed out, sealed or throttled
        ├── StoreAccessError         credentials refused, missing, or not allowed to read
        └── StoreDataError           the store answered with data that cannot be used

    SecretFieldError (TypeError)     a settings class marks a field secret that is not a
                                     SecretStr (raised when the class is defined, not at load)

No message built here or by a source ever contains a secret value: problems name variables,
files and line numbers, never what was read.

The small records of the package are NamedTuples rather than dataclasses: a dataclass costs
close to a millisecond to create at import, and import time is part of every app's boot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from nova_config.provenance import ResolutionRecord


class Problem(NamedTuple):
    """One reason a load failed: which setting (if any) and what to do about it."""

    variable: str | None
    message: str
    kind: str = "invalid"  # "missing", "invalid" or "source"


class SettingsError(ValueError):
    """The settings could not be loaded; `problems` lists every cause at once."""

    def __init__(
        self,
        problems: Sequence[Problem] | str,
        *,
        title: str = "settings could not be loaded",
        resolution: ResolutionRecord | None = None,
    ) -> None:
        if isinstance(problems, str):
            problems = (Problem(None, problems, "source"),)
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.title = title
        self.resolution = resolution
        super().__init__(self.render())

    def render(self) -> str:
        """The whole error as text: a title line, then one indented line per problem."""
        if len(self.problems) == 1:
            return f"{self.title}: {self.problems[0].message}"
        lines = [f"{self.title}: {len(self.problems)} problems"]
        for problem in self.problems:
            lines.append("  - " + problem.message.replace("\n", "\n    "))
        return "\n".join(lines)


class EnvironmentNameError(SettingsError):
    """NOVA_ENV (or the `environment` argument) names no known environment."""


class SourceOrderError(SettingsError):
    """NOVA_SOURCES names an unknown source, or a source twice."""


class SourceConfigError(SettingsError):
    """A store's own configuration variables are invalid; no failure policy excuses it."""


class MissingExtraError(SourceConfigError):
    """A store's SDK is not installed; the message names the pip extra that installs it."""


class SourceError(SettingsError):
    """A source could not be read at all; the failure policy decides what the load does."""


class StoreUnavailableError(SourceError):
    """The store cannot be reached, timed out, is sealed or throttles the requests."""


class StoreAccessError(SourceError):
    """The store refused the credentials, none were found, or they may not read the secret."""


class StoreDataError(SourceError):
    """The store answered with data that cannot be used (wrong KV version, not a JSON object)."""


class SecretFieldError(TypeError):
    """A field marked secret is not a SecretStr, so its value would show in repr()."""
