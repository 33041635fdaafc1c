"""`SecretSettings`, the base any application subclasses, and `NovaSettings`, Nova Aetus's model.

No `from __future__ import annotations` here: pydantic would have to evaluate every annotation
string when the models are built, which is a measurable part of an application's import time.
"""

import inspect
import json
import os
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from nova_config.errors import HIDDEN_INPUT, Problem, SecretFieldError, SettingsError
from nova_config.fields import FieldPlan, is_secret_type, plan_field, secret
from nova_config.fields import setting as setting_spec
from nova_config.hidden import HiddenDict, HiddenEnviron, HiddenList
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.resolve import (
    CURRENT,
    Load,
    build_values,
    compose,
    environment_of,
    field_keys,
    missing_problem,
)
from nova_config.sources.base import Environment
from nova_config.sources.settings_source import input_key
from nova_config.validators import (
    OWN_ERROR,
    STRICT_ENVIRONMENTS,
    check_discord_webhook,
    check_secret_text,
    invalid,
    is_placeholder,
)

# The process environment as every load reads it, through a view whose repr hides it: it is
# passed down through the sources' frames, which error trackers record.
_ENVIRON = HiddenEnviron(os.environ)


# pydantic-settings' own keyword options of a settings class (`_env_file=None`, `_secrets_dir=`).
_INIT_OPTIONS = frozenset(
    name for name in inspect.signature(BaseSettings.__init__).parameters if name.startswith("_")
)


class SecretSettings(BaseSettings):
    """A pydantic-settings `BaseSettings` whose values also come from nova-config's stores.

    It behaves as `BaseSettings` for every pydantic-settings option (prefixes, aliases, JSON
    values, nested models, `env_file`, `secrets_dir`, `_env_file=`, `settings_customise_sources`)
    and adds: the default order init, env (with its per-environment layer), secret folders,
    Vault, AWS, `.env`, defaults; the failure policy; provenance per field (`source_of`); and
    one `SettingsError` that lists every problem with no value in it, instead of pydantic's
    `ValidationError`, whose `errors()` keep the inputs.
    """

    model_config = SettingsConfigDict(hide_input_in_errors=True)

    _resolution: ResolutionRecord | None = PrivateAttr(default=None)

    __nova_plans__: ClassVar[tuple[FieldPlan, ...]] = ()
    __nova_examples__: ClassVar[frozenset[str]] = frozenset()
    # The field that holds the environment of the load, if the model declares one: it is set
    # from its keyword argument or NOVA_ENV, never read from a source.
    __nova_environment_field__: ClassVar[str | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        plans = tuple(
            plan_field(name, info, cls.model_config.get("env_prefix") or "")
            for name, info in cls.model_fields.items()
            if name != cls.__nova_environment_field__
        )
        for plan in plans:
            if plan.secret and not is_secret_type(cls.model_fields[plan.name].annotation):
                # A plain str would show in repr() and model_dump(); refuse it at import time.
                raise SecretFieldError(
                    f"{cls.__name__}.{plan.name} is marked secret but is not a SecretStr field"
                )
        cls.__nova_plans__ = plans
        cls.__nova_examples__ = frozenset(p.example for p in plans if p.secret and p.example)

    def __init__(self, **values: Any) -> None:
        # The keyword arguments may be secrets: only a copy whose repr hides them stays in this
        # frame, for error trackers that record frame locals.
        init: HiddenDict[str, Any] = HiddenDict(values)
        del values
        cls = type(self)
        options = {name: init.pop(name) for name in [n for n in init if n in _INIT_OPTIONS]}
        field = cls.__nova_environment_field__
        environment = environment_of(init, _ENVIRON, field)
        given = field is not None and field in init
        if given and field is not None:
            init[field] = environment  # as validated: `Production` becomes `production`
        load = Load(
            f"{cls.__module__}:{cls.__qualname__}",
            cls.__nova_plans__,
            environment,
            _ENVIRON,
            dotenv_disabled="_env_file" in options and options["_env_file"] is None,
            environment_field=field,
        )
        invalid: list[Problem] = []
        lines: list[InitErrorDetails] = []
        token = CURRENT.set(load)
        try:
            BaseSettings.__init__(self, **options, **init)
        except SettingsError:
            raise  # a store's configuration (always fatal): already nova-config's own error
        except ValidationError as exc:
            invalid, lines = _invalid_problems(cls, exc, load)
        finally:
            CURRENT.reset(token)
        if field is not None and not given:
            load.provenance[field] = (
                Provenance("env", "NOVA_ENV")
                if "NOVA_ENV" in _ENVIRON
                else Provenance("default", "default value")
            )
        for plan in cls.__nova_plans__:
            if plan.required and plan.name not in load.provenance:
                load.problems.append(missing_problem(load, plan, cls))
        problems = load.problems + invalid
        record = load.record()
        if problems:
            # pydantic's own line errors (inputs replaced) where it found the problems, nova's
            # for the sources' problems; missing fields are pydantic's `missing` either way.
            reported = {tuple(line["loc"]) for line in lines}
            own: list[InitErrorDetails] = [
                _own_line_error(problem, cls)
                for problem in load.problems
                if problem.kind != "missing" or (_key_of(problem, cls),) not in reported
            ]
            # Raised outside the except block, so the ValidationError (which keeps the inputs
            # in its errors()) is neither the cause nor the context of what the user sees.
            raise SettingsError(
                problems,
                title=f"{cls.__name__} could not be loaded ({environment})",
                resolution=record,
                line_errors=own + lines,
            )
        self._resolution = record

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """nova-config's order: init, env, secret folders, Vault, AWS, `.env` (then defaults).

        Override it to reorder, drop or add sources (upstream's included); call this one
        through `super()` to start from nova-config's order.
        """
        return compose(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )

    @classmethod
    def _settings_build_values(
        cls, sources: tuple[PydanticBaseSettingsSource, ...], init_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        # pydantic-settings' merge, plus the record of which source gave each field, and with
        # the values kept in containers whose repr hides them.
        return build_values(cls, sources, init_kwargs)

    @field_validator("*", mode="after")
    @classmethod
    def _check_secret(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            check_secret_text(text)
            load = CURRENT.get()
            strict = load is not None and load.environment in STRICT_ENVIRONMENTS
            if strict and is_placeholder(text, cls.__nova_examples__):
                raise invalid(
                    "is a placeholder, not a real secret (staging and production refuse "
                    "placeholders and the .env.example values)"
                )
        return value

    def __eq__(self, other: object) -> bool:
        # Values only, as two BaseSettings compare: where they came from is not part of them.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.__pydantic_extra__ == other.__pydantic_extra__
        )

    __hash__ = BaseSettings.__hash__

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, as pydantic makes it; updated fields are recorded as given in code."""
        copy = super().model_copy(update=update, deep=deep)
        record = self._resolution
        if record is not None and update:
            provenance = dict(record.provenance)
            for name in update:
                provenance[name] = Provenance("init", f"{name} given to model_copy()")
            copy._resolution = record._replace(provenance=provenance)
        return copy

    def source_of(self, field: str) -> Provenance:
        """Where a field's value came from.

        Args:
            field: the field name, such as `alpaca_api_key`, or the dotted path of a nested
                model's part (`database.host`): each part names the source that gave it.

        Returns:
            Its provenance: `.source`, `.location` and, for versioned stores, `.version`.

        Raises:
            KeyError: the model has no such field.
            SettingsError: the instance was not loaded (`model_construct()`).
        """
        top = field.partition(".")[0]
        if top not in type(self).model_fields:
            raise KeyError(f"{type(self).__name__} has no setting {field!r}")
        provenance = self.resolution.provenance
        if field in provenance:
            return provenance[field]
        if top not in provenance:
            raise KeyError(f"{type(self).__name__} has no provenance for {field!r}")
        if field == top or provenance[top].source == "default":
            return provenance[top]
        # A part of a nested model that no source gave: the model's own default.
        return Provenance("default", "default value")

    @property
    def resolution(self) -> ResolutionRecord:
        """The record of this load: environment, sources consulted, provenance per field.

        Raises:
            SettingsError: the instance was not loaded but built with `model_construct()`.
        """
        if self._resolution is None:
            raise SettingsError(
                f"{type(self).__name__} was built with model_construct(), not loaded: it has "
                "no record of where its values came from"
            )
        return self._resolution


# A run of this many characters of a secret is cut out of a message wherever it appears, in
# any case: a validator may quote the value stripped, lower-cased or in part.
MIN_SECRET_RUN = 6
HIDDEN = "[hidden]"


def _fold(text: str) -> str:
    """Lower case, one character for one (so that positions match the original text)."""
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def _redact(message: str, secrets: list[str]) -> str:
    """Cut every run of 6 or more characters of a secret out of a message, in any case.

    The secret counts as written and as repr() or JSON would quote it. A secret shorter than the
    run is cut only where it appears whole, and only from four characters up, since shorter
    forms would cut ordinary words. Defence in depth: pydantic's own messages never quote
    inputs, but a subclass's validator might.
    """
    folded = _fold(message)
    hidden = [False] * len(message)
    for value in secrets:
        for form in {_fold(f) for f in (value, repr(value)[1:-1], json.dumps(value)[1:-1])}:
            size = MIN_SECRET_RUN if len(form) >= MIN_SECRET_RUN else len(form)
            if size < 4:
                continue
            grams = {form[i : i + size] for i in range(len(form) - size + 1)}
            for start in range(len(folded) - size + 1):
                if folded[start : start + size] in grams:
                    hidden[start : start + size] = [True] * size
    if not any(hidden):
        return message
    parts: list[str] = []
    for index, char in enumerate(message):
        if not hidden[index]:
            parts.append(char)
        elif index == 0 or not hidden[index - 1]:
            parts.append(HIDDEN)
    return "".join(parts)


def _key_of(problem: Problem, cls: type[SecretSettings]) -> str:
    """The input key of the field a problem is about (its alias, as pydantic names it)."""
    for plan in cls.__nova_plans__:
        if plan.variable == problem.variable:
            return input_key(plan.name, cls.model_fields[plan.name])
    return problem.variable or ""


def _own_line_error(problem: Problem, cls: type[SecretSettings]) -> InitErrorDetails:
    """The line error of one of nova-config's problems: `missing`, or `nova_source`."""
    loc = (_key_of(problem, cls),) if problem.variable else ()
    if problem.kind == "missing":
        return {"type": "missing", "loc": loc, "input": {}}  # as in _line_error
    custom = PydanticCustomError(f"nova_{problem.kind}", problem.message)
    return {"type": custom, "loc": loc, "input": HIDDEN_INPUT}


def _collect_secrets(annotation: Any, value: object, into: list[str]) -> None:
    """The texts of every secret in a field's input, nested models' secret fields included."""
    if is_secret_type(annotation):
        text = _plain(value)
        if text is not None:
            into.append(text)
        return
    if not isinstance(value, Mapping):
        return
    for model in _models_in(annotation):
        for name, field in model.model_fields.items():
            for key in (name, field.alias, field.validation_alias):
                if isinstance(key, str) and key in value:
                    _collect_secrets(field.annotation, value[key], into)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names (itself, or inside Optional, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _plain(value: object) -> str | None:
    """The text of a secret as a validator could quote it, whatever type carries it."""
    get = getattr(value, "get_secret_value", None)
    if callable(get):
        value = get()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _invalid_problems(
    cls: type[SecretSettings], exc: ValidationError, load: Load
) -> tuple[list[Problem], list[InitErrorDetails]]:
    """nova-config's problems for pydantic's errors, and pydantic's errors without their input.

    A message that is not nova-config's own has every run of a secret cut out of it, in the
    problem and in the line error alike; the input becomes a placeholder.
    """
    plans = {plan.name: plan for plan in cls.__nova_plans__}
    keys = field_keys(cls)
    secrets: HiddenList[str] = HiddenList()
    for key in load.values:
        name = keys.get(key)
        if name in plans:
            _collect_secrets(cls.model_fields[name].annotation, load.values[key], secrets)
    problems: list[Problem] = []
    lines: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False, include_input=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        name = keys.get(key, key)
        plan = plans.get(name)
        own = error["type"] == OWN_ERROR
        message = str(error["msg"]).removeprefix("Value error, ")
        if not own:
            message = _redact(message, secrets)
        lines.append(_line_error(error, message, own))
        if plan is not None and error["type"] == "missing" and len(error["loc"]) == 1:
            continue  # reported with the places the load looked in
        if error["type"] == "extra_forbidden":
            problems.append(Problem(key, f"{key} is not a setting of {cls.__name__}"))
            continue
        variable = plan.variable if plan else name or cls.__name__
        inner = ".".join(str(step) for step in error["loc"][1:])
        shown = f"{variable} ({inner})" if inner and plan else variable
        origin = load.provenance.get(name)
        where = f" ({origin})" if origin else ""
        problems.append(Problem(variable, f"{shown}{where} is invalid: {message}"))
    return problems, lines


# pydantic's own error types: their messages are built from the type and its context, which
# describe the rule broken (a bound, the expected values), never the input.
_PYDANTIC_TYPES = frozenset(typing.get_args(ErrorType))


def _line_error(error: ErrorDetails, message: str, own: bool) -> InitErrorDetails:
    """One of pydantic's line errors again, with its input replaced and its message redacted."""
    kind = error["type"]
    context = error.get("ctx")
    if kind in ("value_error", "assertion_error"):
        # The context is the validator's own message, which may quote the value.
        return {"type": kind, "loc": error["loc"], "input": HIDDEN_INPUT, "ctx": {"error": message}}
    if own or kind not in _PYDANTIC_TYPES:
        custom = PydanticCustomError(kind, message)
        return {"type": custom, "loc": error["loc"], "input": HIDDEN_INPUT}
    # A missing field's input is the mapping around it, every other value included: an empty
    # one stands in for it, as for a model given nothing.
    hidden: object = {} if kind == "missing" else HIDDEN_INPUT
    line: InitErrorDetails = {"type": kind, "loc": error["loc"], "input": hidden}
    if context:
        line["ctx"] = context
    return line


class NovaSettings(SecretSettings):
    """The Nova Aetus trading app's settings: Discord alerts, TimescaleDB and the Alpaca broker."""

    # Nova's settings are read once at boot and never changed; other models choose for
    # themselves (SecretSettings is not frozen, as BaseSettings is not).
    model_config = SettingsConfigDict(frozen=True)
    __nova_environment_field__ = "environment"

    environment: Environment = "development"

    discord_webhook_url: Annotated[
        SecretStr,
        secret(
            example="https://discord.com/api/webhooks/<webhook-id>/<webhook-token>",
            help="Discord webhook that receives trading alerts",
        ),
        AfterValidator(check_discord_webhook),
    ]
    timescale_password: Annotated[
        SecretStr,
        secret(
            aliases=("db_password",),
            example="your-timescale-password-here",
            help="Password of the TimescaleDB user",
        ),
    ]
    alpaca_api_key: Annotated[
        SecretStr,
        secret(example="your-alpaca-api-key-id-here", help="Alpaca API key id"),
    ]
    alpaca_secret_key: Annotated[
        SecretStr | None,
        secret(
            example="your-alpaca-secret-key-here",
            help="Alpaca API secret key, the pair of the key id",
        ),
    ] = None
    timescale_host: Annotated[str, setting_spec(help="TimescaleDB host")] = "localhost"
    timescale_port: Annotated[int, Field(ge=1, le=65535), setting_spec(help="TimescaleDB port")] = (
        5432
    )
    timescale_user: Annotated[str, setting_spec(help="TimescaleDB user")] = "postgres"
    timescale_db: Annotated[str, setting_spec(help="TimescaleDB database")] = "nova_aetus"

    def timescale_dsn(self) -> SecretStr:
        """The TimescaleDB connection URL, password URL-quoted, as a secret.

        Returns:
            `postgresql://user:password@host:port/db` wrapped in `SecretStr`.
        """
        host = self.timescale_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        user = quote(self.timescale_user, safe="")
        password = quote(self.timescale_password.get_secret_value(), safe="")
        database = quote(self.timescale_db, safe="")
        return SecretStr(f"postgresql://{user}:{password}@{host}:{self.timescale_port}/{database}")
