"""`SecretSettings`, the base any application subclasses, and `NovaSettings`, Nova Aetus's model.

No `from __future__ import annotations` here: pydantic would have to evaluate every annotation
string when the models are built, which is a measurable part of an application's import time.
"""

import json
import os
from typing import Annotated, Any, ClassVar
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
from pydantic_settings import BaseSettings, SettingsConfigDict

from nova_config.errors import Problem, SecretFieldError, SettingsError
from nova_config.fields import ENVIRONMENT_FIELD, FieldPlan, is_secret_type, plan_field, secret
from nova_config.fields import setting as setting_spec
from nova_config.hidden import HiddenDict, HiddenEnviron, HiddenList
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.resolve import Resolution, resolve
from nova_config.sources.base import Environment
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


class SecretSettings(BaseSettings):
    """A settings model whose values come from nova-config's sources, with provenance.

    Subclass it and declare fields; mark secrets with `SecretStr` (and `secret(...)` metadata
    for file aliases and examples). Instantiating it runs one resolution pass over the sources
    (pydantic-settings' own sources and `settings_customise_sources` are not used), validates
    with inputs hidden, and raises one `SettingsError` that lists every problem.
    """

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        validate_default=True,
    )

    environment: Environment = "development"

    _resolution: ResolutionRecord = PrivateAttr()

    __nova_plans__: ClassVar[tuple[FieldPlan, ...]] = ()
    __nova_examples__: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        plans = tuple(
            plan_field(name, info)
            for name, info in cls.model_fields.items()
            if name != ENVIRONMENT_FIELD
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
        resolution = resolve(
            f"{cls.__module__}:{cls.__qualname__}", cls.__nova_plans__, init, _ENVIRON
        )
        invalid: list[Problem] = []
        try:
            # BaseModel, not BaseSettings: the values are already resolved.
            BaseModel.__init__(self, **resolution.values)
        except ValidationError as exc:
            invalid = _invalid_problems(cls, exc, resolution)
        problems = resolution.problems + invalid
        if problems:
            # Raised outside the except block, so the ValidationError (which keeps the inputs
            # in its errors()) is neither the cause nor the context of what the user sees.
            raise SettingsError(
                problems,
                title=f"{cls.__name__} could not be loaded ({resolution.record.environment})",
                resolution=resolution.record,
            )
        self._resolution = resolution.record

    @field_validator("*", mode="after")
    @classmethod
    def _check_secret(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            check_secret_text(text)
            strict = info.data.get(ENVIRONMENT_FIELD) in STRICT_ENVIRONMENTS
            if strict and is_placeholder(text, cls.__nova_examples__):
                raise invalid(
                    "is a placeholder, not a real secret (staging and production refuse "
                    "placeholders and the .env.example values)"
                )
        return value

    def source_of(self, field: str) -> Provenance:
        """Where a field's value came from.

        Args:
            field: the field name, such as `alpaca_api_key`.

        Returns:
            Its provenance: `.source`, `.location` and, for versioned stores, `.version`.

        Raises:
            KeyError: the model has no such field.
        """
        try:
            return self._resolution.provenance[field]
        except KeyError:
            raise KeyError(f"{type(self).__name__} has no setting {field!r}") from None

    @property
    def resolution(self) -> ResolutionRecord:
        """The record of this load: environment, sources consulted, provenance per field."""
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


def _plain(value: object) -> str | None:
    """The text of a secret as a validator could quote it, whatever type carries it."""
    get = getattr(value, "get_secret_value", None)
    if callable(get):
        value = get()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _invalid_problems(
    cls: type[SecretSettings], exc: ValidationError, resolution: Resolution
) -> list[Problem]:
    plans = {plan.name: plan for plan in cls.__nova_plans__}
    secrets: HiddenList[str] = HiddenList(
        text
        for name, v in resolution.values.items()
        if name in plans and plans[name].secret and (text := _plain(v)) is not None
    )
    problems = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        plan = plans.get(name)
        if plan is not None and error["type"] == "missing":
            continue  # the resolution pass reported it, with the places it looked
        if error["type"] == "extra_forbidden":
            problems.append(Problem(name, f"{name} is not a setting of {cls.__name__}"))
            continue
        variable = plan.variable if plan else name or cls.__name__
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] != OWN_ERROR:
            message = _redact(message, secrets)
        origin = resolution.record.provenance.get(name)
        where = f" ({origin})" if origin else ""
        problems.append(Problem(variable, f"{variable}{where} is invalid: {message}"))
    return problems


class NovaSettings(SecretSettings):
    """The Nova Aetus trading app's settings: Discord alerts, TimescaleDB and the Alpaca broker."""

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
