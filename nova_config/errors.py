"""The exception hierarchy of nova-config.

::

    SettingsError (ValueError,       the settings could not be loaded; .problems lists every cause
      pydantic's ValidationError)    (its errors() hold the messages, never an input)
    ├── EnvironmentNameError         NOVA_ENV names no known environment
    ├── SourceOrderError             NOVA_SOURCES names an unknown source, or one twice
    ├── SourceConfigError            a store's own variables are invalid (always fatal)
    │   └── MissingExtraError        a store's SDK is not installed; names the pip extra
    ├── SourceError                  one source could not be read at all; the failure policy
    │   │                            decides whether the load fails or goes on without it
    │   ├── StoreUnavailableError    unreachable, timed out, sealed or throttled
    │   ├── StoreAccessError         credentials refused, missing, or not allowed to read
    │   └── StoreDataError           the store answered with data that cannot be used
    ├── SettingsSourceError          a pydantic-settings source failed (also pydantic-settings'
    │                                own SettingsError)
    ├── AuditLogError                the audit log cannot be written (staging and production
    │                                fail closed)
    └── RotationError                `nova-config rotate` wrote nothing (invalid value, refused)
        └── RotationConflictError    the secret changed in the store since it was read

    SecretFieldError (TypeError)     a settings class marks a field secret that is not a
                                     SecretStr (raised when the class is defined, not at load)
    UsageError                       the command line names something unusable (exit 2)
    BackupFileError                  a backup file cannot be decrypted or is not a valid backup
    FileReadError                    a file cannot be read as a load reads files; sources turn
                                     it into a problem, so it never reaches the user

No message built here or by a source ever contains a secret value: problems name variables,
files and line numbers, never what was read.

The small records of the package are NamedTuples rather than dataclasses: a dataclass costs
close to a millisecond to create at import, and import time is part of every app's boot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, Self

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError
from pydantic_settings.exceptions import SettingsError as UpstreamSettingsError

if TYPE_CHECKING:
    from nova_config.provenance import ResolutionRecord


DEFAULT_TITLE = "settings could not be loaded"
HIDDEN_INPUT = "[hidden]"
_CORE_ARGS = 4


# What a problem is about: a setting no source holds, a value that is invalid, or a source that
# could not be read (or read something unusable).
ProblemKind = Literal["missing", "invalid", "source"]


class Problem(NamedTuple):
    """One reason a load failed: which setting (if any) and what to do about it."""

    variable: str | None
    message: str
    kind: ProblemKind = "invalid"


def _problems_of(problems: Sequence[Problem] | str) -> tuple[Problem, ...]:
    if isinstance(problems, str):
        return (Problem(None, problems, "source"),)
    return tuple(problems)


class SettingsError(ValidationError, ValueError):
    """The settings could not be loaded; `problems` lists every cause at once.

    It is also a pydantic `ValidationError`, so that code written for pydantic-settings
    (`except ValidationError`, `pytest.raises(ValidationError)`) keeps working; its line errors
    carry the problems' messages and a placeholder for the input, never the input itself, so
    `errors()` and `json()` have nothing to leak.
    """

    # pydantic-core builds a ValidationError by calling its class with (title, line errors,
    # input type, hide input): those calls pass through to it untouched.
    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if len(args) == _CORE_ARGS and not kwargs:
            return super().__new__(cls, *args)
        problems = _problems_of(args[0] if args else kwargs["problems"])
        title = kwargs.get("title", DEFAULT_TITLE)
        line_errors: list[InitErrorDetails] | None = kwargs.get("line_errors")
        if line_errors is None:
            line_errors = [
                {
                    "type": PydanticCustomError(f"nova_{p.kind}", p.message),
                    "loc": (p.variable,) if p.variable else (),
                    "input": HIDDEN_INPUT,
                }
                for p in problems
            ]
        return cls.from_exception_data(title, line_errors, hide_input=True)

    def __init__(
        self,
        problems: Sequence[Problem] | str,
        *args: Any,
        title: str = DEFAULT_TITLE,
        resolution: ResolutionRecord | None = None,
        line_errors: list[InitErrorDetails] | None = None,
    ) -> None:
        """Make the error.

        Args:
            problems: every cause, or one message.
            title: the first line of the message.
            resolution: the record of the load, as far as it went.
            line_errors: pydantic's line errors for `errors()`, their inputs already replaced
                (by default one `nova_<kind>` error per problem).
        """
        del line_errors  # used by __new__
        if args:  # pydantic-core's own construction (see __new__): nothing of ours to keep
            return
        del title  # ValidationError keeps it, as `.title`
        self.problems: tuple[Problem, ...] = _problems_of(problems)
        self.resolution = resolution

    def __str__(self) -> str:
        return self.render()

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

    cause: ClassVar[str] = "config"  # the audit trail's word for it (see auditchain.py)


class MissingExtraError(SourceConfigError):
    """A store's SDK is not installed; the message names the pip extra that installs it."""


class SourceError(SettingsError):
    """A source could not be read at all; the failure policy decides what the load does."""

    cause: ClassVar[str] = "unavailable"  # the audit trail's word for it (see auditchain.py)


class StoreUnavailableError(SourceError):
    """The store cannot be reached, timed out, is sealed or throttles the requests."""


class StoreAccessError(SourceError):
    """The store refused the credentials, none were found, or they may not read the secret."""

    cause: ClassVar[str] = "denied"


class StoreDataError(SourceError):
    """The store answered with data that cannot be used (wrong KV version, not a JSON object)."""

    cause: ClassVar[str] = "bad_data"


class AuditLogError(SettingsError):
    """The audit log (NOVA_AUDIT_LOG) cannot be written, and the policy is to fail closed."""


class RotationError(SettingsError):
    """Nothing was rotated: the new value is invalid, the write was refused or declined, or the
    audit log it would be recorded in cannot be written."""


class RotationConflictError(RotationError):
    """The secret changed in its store between the read and the write; nothing was written."""


class SettingsSourceError(SettingsError, UpstreamSettingsError):
    """A pydantic-settings source failed (a value that must be JSON is not, a missing folder).

    Also pydantic-settings' own `SettingsError`, which such code catches; nothing is chained,
    since the cause of a JSON error keeps the value.
    """


class FileReadError(Exception):
    """A file a load reads cannot be used; the message names it and the cause, never its content.

    Sources turn it into a problem of the load (or a configuration error), never let it out.
    """


class BackupFileError(Exception):
    """A backup cannot be used: not age, not decrypted, damaged, or not this format (exit 1)."""


class UsageError(Exception):
    """The command line names something that cannot be used (the CLI exits 2)."""


class SecretFieldError(TypeError):
    """A field marked secret is not a SecretStr, so its value would show in repr()."""
