"""`SecretSettings`, the base any application subclasses, and `NovaSettings`, Nova Aetus's model.

No `from __future__ import annotations` here: pydantic would have to evaluate every annotation
string when the models are built, which is a measurable part of an application's import time.
"""

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from nova_config.compose import compose
from nova_config.errors import SecretFieldError, SettingsError
from nova_config.fields import FieldPlan, is_secret_type, plan_field, secret
from nova_config.fields import setting as setting_spec
from nova_config.hidden import HiddenDict
from nova_config.loading import load_into
from nova_config.merge import build_values
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.resolve import CURRENT
from nova_config.sources.base import Environment
from nova_config.validators import (
    STRICT_ENVIRONMENTS,
    check_discord_webhook,
    check_secret_text,
    invalid,
    is_placeholder,
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
    __nova_own_order__: ClassVar[bool] = False

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
        # A model that keeps nova-config's order, with no CLI source configured, has only the
        # sources that order consults made (compose.own_sources).
        own = SecretSettings.settings_customise_sources.__func__  # type: ignore[attr-defined]
        cls.__nova_own_order__ = getattr(
            cls.settings_customise_sources, "__func__", None
        ) is own and (
            all(cls.model_config.get(k) is None for k in ("cli_parse_args", "cli_settings_source"))
        )

    def __init__(self, **values: Any) -> None:
        # The keyword arguments may be secrets: only a copy whose repr hides them stays in this
        # frame, for error trackers that record frame locals.
        init: HiddenDict[str, Any] = HiddenDict(values)
        del values
        self._resolution = load_into(self, init)

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

    def reload(self) -> Self:
        """A new instance from the same sources, for the same environment (see nova_config.live).

        Raises:
            SettingsError: as construction does.
        """
        from nova_config.reload import reload  # noqa: PLC0415 - only apps that reload load it

        return reload(self)

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
