"""Field metadata: which settings are secrets, their extra names and their example values."""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import Secret, SecretBytes, SecretStr

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

# The field that selects the environment; it is read before any source and never from one.
ENVIRONMENT_FIELD = "environment"


class Spec(NamedTuple):
    """Metadata attached to a settings field with `Annotated[...]`.

    Attributes:
        secret: whether the value is a secret; `None` decides by type (`SecretStr` is a secret).
        aliases: extra names a secret file may carry (`db_password` for `TIMESCALE_PASSWORD`).
        example: the placeholder written to `.env.example`; rejected in staging and production.
        help: one line for `.env.example` and `nova-config check`.
    """

    secret: bool | None = None
    aliases: tuple[str, ...] = ()
    example: str | None = None
    help: str = ""


def secret(*, aliases: Iterable[str] = (), example: str | None = None, help: str = "") -> Spec:
    """Mark a field as a secret.

    Args:
        aliases: extra file names for the secret (matched like the variable name).
        example: the placeholder for `.env.example`.
        help: a one-line description.

    Returns:
        The metadata to put in `Annotated[SecretStr, secret(...)]`.
    """
    return Spec(secret=True, aliases=tuple(aliases), example=example, help=help)


def setting(*, example: str | None = None, help: str = "") -> Spec:
    """Describe a field that is not a secret.

    Args:
        example: the value for `.env.example` (the default is used when this is None).
        help: a one-line description.

    Returns:
        The metadata to put in `Annotated[str, setting(...)]`.
    """
    return Spec(secret=False, example=example, help=help)


def normalise(name: str) -> str:
    """The key a file name is matched by: case-insensitive, `-` and `_` equivalent."""
    return name.lower().replace("-", "_")


class FieldPlan(NamedTuple):
    """Everything a source needs to know about one field, computed once per settings class."""

    name: str
    variable: str
    secret: bool
    required: bool
    aliases: tuple[str, ...]
    file_keys: tuple[str, ...]
    example: str
    help: str

    def variables(self, prefix: str) -> tuple[str, str]:
        """The variable names for this field, highest priority first (prefixed, then plain)."""
        return (prefix + self.variable, self.variable)


def is_secret_type(annotation: Any) -> bool:
    """Whether an annotation is (or unions in) SecretStr, SecretBytes or any `Secret[...]`."""
    origin = typing.get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, SecretStr | SecretBytes | Secret):
        return True
    return any(is_secret_type(arg) for arg in typing.get_args(annotation))


def _pydantic_aliases(info: FieldInfo) -> list[str]:
    """The names pydantic validates a field by: `alias`, `validation_alias`, `AliasChoices`."""
    from pydantic import AliasChoices  # noqa: PLC0415 - pydantic is loaded by then anyway

    names: list[str] = []
    for alias in (info.validation_alias, info.alias):
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.extend(choice for choice in choices if isinstance(choice, str))
    return names


def _spec_of(info: FieldInfo) -> Spec:
    for item in info.metadata:
        if isinstance(item, Spec):
            return item
    return Spec()


def _example_of(name: str, info: FieldInfo, spec: Spec, is_secret: bool) -> str:
    if spec.example is not None:
        return spec.example
    if not is_secret and not info.is_required() and info.default is not None:
        return str(info.default)
    if is_secret:
        return f"your-{name.replace('_', '-')}-here"
    return ""


def plan_field(name: str, info: FieldInfo, env_prefix: str = "") -> FieldPlan:
    """Build the plan of one field from its annotation, its `Spec` and the model's env_prefix.

    The variable is the whole name env reads (`env_prefix` included), in upper case.
    """
    spec = _spec_of(info)
    is_secret = spec.secret if spec.secret is not None else is_secret_type(info.annotation)
    aliases = tuple(dict.fromkeys((*spec.aliases, *_pydantic_aliases(info))))
    keys = dict.fromkeys(normalise(n) for n in (name, *aliases))
    return FieldPlan(
        name=name,
        variable=(env_prefix + name).upper(),
        secret=is_secret,
        required=info.is_required(),
        aliases=aliases,
        file_keys=tuple(keys),
        example=_example_of(name, info, spec, is_secret),
        help=spec.help or (info.description or ""),
    )
