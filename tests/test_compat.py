"""SecretSettings behaves as pydantic-settings' BaseSettings: one model table, run on both bases.

Every model is defined once (a name, its annotations and its namespace) and built twice, once
on `pydantic_settings.BaseSettings` and once on `nova_config.SecretSettings`. Both are given the
same inputs (process environment, `.env`-style files, a secrets folder, keyword arguments) and
must load the same values. Where nova-config differs on purpose, the test asserts the difference
and says why.
"""

from __future__ import annotations

import enum
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    HttpUrl,
    PostgresDsn,
    SecretBytes,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from nova_config import SecretSettings, SettingsError

BASES = (BaseSettings, SecretSettings)


def read_names() -> set[str]:
    """Every field and alias name the models of this module read (NAME, HOST, MODE...)."""
    tables = [row.annotations for row in ROWS] + [EVERY_TYPE, URL_MODEL]
    names = {name.lower() for table in tables for name in table}
    return names | {"api_token", "db_host", "database_host", "svc_name"}


READ_PREFIXES = ("myapp_", "database__", "development_", "test_", "staging_", "production_")


@pytest.fixture(autouse=True)
def no_stray_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables of the machine that one of these models would read are cleared."""
    for name in list(os.environ):
        if name.lower() in read_names() or name.lower().startswith(READ_PREFIXES):
            monkeypatch.delenv(name)


def model(
    base: type[BaseSettings], annotations: Mapping[str, Any], **namespace: Any
) -> type[BaseSettings]:
    """One model definition built on `base`: its field annotations and its class namespace."""

    def body(ns: dict[str, Any]) -> None:
        ns.update(namespace, __annotations__=dict(annotations), __module__=__name__)

    built: type[BaseSettings] = types.new_class("Settings", (base,), {}, body)
    return built


def plain(value: Any) -> Any:
    """A dumped value with every secret replaced by its text, so that dumps compare."""
    if isinstance(value, SecretStr | SecretBytes):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(plain(item) for item in value)
    return value


def dump(settings: BaseSettings) -> dict[str, Any]:
    """`model_dump()` with secrets as text."""
    result: dict[str, Any] = plain(settings.model_dump())
    return result


def put(files: Mapping[str, str | bytes]) -> None:
    """Write files relative to the working folder (the test's tmp_path)."""
    for name, content in files.items():
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def load_both(
    annotations: Mapping[str, Any],
    namespace: Mapping[str, Any],
    kwargs: Mapping[str, Any] | None = None,
) -> tuple[BaseSettings, BaseSettings]:
    """The model loaded on BaseSettings and on SecretSettings, with the same keyword arguments."""
    options: dict[str, Any] = dict(kwargs or {})
    upstream = model(BaseSettings, annotations, **namespace)(**options)
    nova = model(SecretSettings, annotations, **namespace)(**options)
    assert isinstance(nova, SecretSettings)
    return upstream, nova


# --- The table: one row per pydantic-settings option or idiom ------------------------------------


class Database(BaseModel):
    """A nested model."""

    host: str = "localhost"
    port: int = 5432
    password: SecretStr | None = None


@dataclass(frozen=True)
class Row:
    """One model, its inputs, and the values both bases must load from them."""

    id: str
    annotations: Mapping[str, Any]
    namespace: Mapping[str, Any]
    expected: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    kwargs: Mapping[str, Any] = field(default_factory=dict)


PORT_TOKEN: Mapping[str, Any] = {"port": int, "token": SecretStr}
ALIASED: Mapping[str, Any] = {
    "token": Annotated[SecretStr, Field(validation_alias="API_TOKEN")],
    "host": Annotated[str, Field(validation_alias=AliasChoices("DB_HOST", "DATABASE_HOST"))],
    "name": Annotated[str, Field(alias="SVC_NAME")],
}
CONTAINERS: Mapping[str, Any] = {
    "hosts": list[str],
    "limits": dict[str, int],
    "tags": set[str],
    "pair": tuple[int, str],
    "key": SecretStr,
}
NESTED: Mapping[str, Any] = {"database": Database, "name": str}


def drop_env(
    cls: type[BaseSettings],
    settings_cls: type[BaseSettings],
    *,
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """An override of settings_customise_sources that drops the environment."""
    return init_settings, dotenv_settings, file_secret_settings


def dotenv_over_env(
    cls: type[BaseSettings],
    settings_cls: type[BaseSettings],
    *,
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """An override of settings_customise_sources that puts the env file before the environment."""
    return init_settings, dotenv_settings, env_settings


ROWS = [
    Row(
        "env_prefix reads MYAPP_PORT, not PORT",
        PORT_TOKEN,
        {"port": 8000, "model_config": SettingsConfigDict(env_prefix="MYAPP_")},
        {"port": 8080, "token": "tok-prefixed"},
        env={"MYAPP_PORT": "8080", "MYAPP_TOKEN": "tok-prefixed", "PORT": "1", "TOKEN": "no"},
    ),
    Row(
        "validation_alias, AliasChoices and alias are read from env",
        ALIASED,
        {"host": "localhost", "name": "svc"},
        {"token": "tok-alias", "host": "db.internal", "name": "billing"},
        env={"API_TOKEN": "tok-alias", "DATABASE_HOST": "db.internal", "SVC_NAME": "billing"},
    ),
    Row(
        "a required aliased field loads from its alias as a keyword argument",
        ALIASED,
        {},
        {"token": "tok-kw", "host": "h", "name": "n"},
        kwargs={"API_TOKEN": "tok-kw", "DB_HOST": "h", "SVC_NAME": "n"},
    ),
    Row(
        "list, dict, set and tuple are JSON-decoded from env",
        CONTAINERS,
        {},
        {
            "hosts": ["a", "b"],
            "limits": {"x": 1},
            "tags": {"t1", "t2"},
            "pair": (1, "one"),
            "key": '["not","decoded"]',
        },
        env={
            "HOSTS": '["a","b"]',
            "LIMITS": '{"x": 1}',
            "TAGS": '["t1","t2"]',
            "PAIR": '[1,"one"]',
            "KEY": '["not","decoded"]',
        },
    ),
    Row(
        "containers are JSON-decoded from a secrets folder too",
        CONTAINERS,
        {"model_config": SettingsConfigDict(secrets_dir="sd")},
        {"hosts": ["a"], "limits": {}, "tags": set(), "pair": (2, "b"), "key": "k"},
        files={
            "sd/hosts": '["a"]',
            "sd/limits": "{}",
            "sd/tags": "[]",
            "sd/pair": '[2,"b"]',
            "sd/key": "k",
        },
    ),
    Row(
        "a nested model is read with env_nested_delimiter='__'",
        NESTED,
        {
            "database": Database(),
            "name": "app",
            "model_config": SettingsConfigDict(env_nested_delimiter="__"),
        },
        {"database": {"host": "db", "port": 6543, "password": "nested-pw"}, "name": "app"},
        env={"DATABASE__HOST": "db", "DATABASE__PORT": "6543", "DATABASE__PASSWORD": "nested-pw"},
    ),
    Row(
        "a nested model is parsed from JSON",
        NESTED,
        {"database": Database(), "name": "app"},
        {"database": {"host": "db", "port": 6543, "password": None}, "name": "app"},
        env={"DATABASE": '{"host": "db", "port": 6543}'},
    ),
    Row(
        "a nested model's JSON and its delimited variables are merged",
        NESTED,
        {
            "database": Database(),
            "name": "app",
            "model_config": SettingsConfigDict(env_nested_delimiter="__"),
        },
        {"database": {"host": "db", "port": 7000, "password": None}, "name": "app"},
        env={"DATABASE": '{"host": "db", "port": 6543}', "DATABASE__PORT": "7000"},
    ),
    Row(
        "env_file as a path is read, and ./.env is not",
        PORT_TOKEN,
        {"port": 8000, "model_config": SettingsConfigDict(env_file="config/app.env")},
        {"port": 9000, "token": "from-file"},
        files={"config/app.env": "PORT=9000\nTOKEN=from-file\n", ".env": "PORT=1\nTOKEN=dot\n"},
    ),
    Row(
        "env_file as a tuple: the later file wins",
        PORT_TOKEN,
        {"port": 8000, "model_config": SettingsConfigDict(env_file=("base.env", "local.env"))},
        {"port": 2, "token": "base-token"},
        files={"base.env": "PORT=1\nTOKEN=base-token\n", "local.env": "PORT=2\n"},
    ),
    Row(
        "env_file_encoding reads a latin-1 file",
        {"name": str},
        {"model_config": SettingsConfigDict(env_file="app.env", env_file_encoding="latin-1")},
        {"name": "café crème"},
        files={"app.env": "NAME=café crème\n".encode("latin-1")},
    ),
    Row(
        "the environment wins over env_file",
        PORT_TOKEN,
        {"port": 8000, "model_config": SettingsConfigDict(env_file="app.env")},
        {"port": 7, "token": "file-token"},
        env={"PORT": "7"},
        files={"app.env": "PORT=9000\nTOKEN=file-token\n"},
    ),
    Row(
        "secrets_dir is read",
        PORT_TOKEN,
        {"port": 8000, "model_config": SettingsConfigDict(secrets_dir="sd")},
        {"port": 7000, "token": "from-secrets-dir"},
        files={"sd/token": "from-secrets-dir", "sd/port": "7000"},
    ),
    Row(
        "env wins over secrets_dir",
        PORT_TOKEN,
        {"port": 8000, "model_config": SettingsConfigDict(secrets_dir="sd")},
        {"port": 1, "token": "dir-token"},
        env={"PORT": "1"},
        files={"sd/token": "dir-token", "sd/port": "7000"},
    ),
    Row(
        "S(_env_file=None) does not read the configured env_file",
        {"port": int},
        {"port": 8000, "model_config": SettingsConfigDict(env_file="app.env")},
        {"port": 8000},
        files={"app.env": "PORT=9000\n"},
        kwargs={"_env_file": None},
    ),
    Row(
        "S(_env_file=...) reads that file instead of the configured one",
        {"port": int},
        {"port": 8000, "model_config": SettingsConfigDict(env_file="app.env")},
        {"port": 9100},
        files={"app.env": "PORT=9000\n", "other.env": "PORT=9100\n"},
        kwargs={"_env_file": "other.env"},
    ),
    Row(
        "S(_secrets_dir=...) reads that folder",
        PORT_TOKEN,
        {"port": 8000},
        {"port": 8000, "token": "kw-dir-token"},
        files={"sd2/token": "kw-dir-token"},
        kwargs={"_secrets_dir": "sd2"},
    ),
    Row(
        "case_sensitive=False (the default) reads lowercase variables",
        PORT_TOKEN,
        {"port": 8000},
        {"port": 8081, "token": "lower"},
        env={"port": "8081", "token": "lower"},
    ),
    Row(
        "case_sensitive=True reads only the exact name",
        {"port": int, "Host": str},
        {"port": 8000, "Host": "h", "model_config": SettingsConfigDict(case_sensitive=True)},
        {"port": 8000, "Host": "exact"},
        env={"PORT": "1", "HOST": "upper", "Host": "exact"},
    ),
    Row(
        "case_sensitive=True reads a lowercase variable of a lowercase field",
        {"port": int},
        {"port": 8000, "model_config": SettingsConfigDict(case_sensitive=True)},
        {"port": 2},
        env={"port": "2"},
    ),
    Row(
        "without env_ignore_empty an empty variable is the empty string",
        {"name": str},
        {"name": "default-name"},
        {"name": ""},
        env={"NAME": ""},
    ),
    Row(
        "env_ignore_empty keeps the default over an empty variable",
        {"name": str, "port": int},
        {
            "name": "default-name",
            "port": 8000,
            "model_config": SettingsConfigDict(env_ignore_empty=True),
        },
        {"name": "default-name", "port": 8000},
        env={"NAME": "", "PORT": ""},
    ),
    Row(
        "env_parse_none_str turns the marker into None",
        {"level": int | None, "key": SecretStr | None},
        {"level": 3, "key": None, "model_config": SettingsConfigDict(env_parse_none_str="null")},
        {"level": None, "key": None},
        env={"LEVEL": "null", "KEY": "null"},
    ),
    Row(
        "an override of settings_customise_sources that drops env is honoured",
        {"port": int},
        {"port": 8000, "settings_customise_sources": classmethod(drop_env)},
        {"port": 8000},
        env={"PORT": "1"},
    ),
    Row(
        "an override of settings_customise_sources that reorders sources is honoured",
        {"port": int},
        {
            "port": 8000,
            "model_config": SettingsConfigDict(env_file="app.env"),
            "settings_customise_sources": classmethod(dotenv_over_env),
        },
        {"port": 9000},
        env={"PORT": "1"},
        files={"app.env": "PORT=9000\n"},
    ),
    Row(
        "the model's own environment field is read from ENVIRONMENT",
        {"environment": Literal["dev", "prod"]},
        {"environment": "dev"},
        {"environment": "prod"},
        env={"ENVIRONMENT": "prod", "NOVA_ENV": "staging"},
    ),
    Row(
        "NOVA_ENV=test with TEST_MODE sets test_mode only: the plain name wins",
        {"mode": str, "test_mode": str},
        {"mode": "default-mode", "test_mode": "off"},
        {"mode": "default-mode", "test_mode": "x"},
        env={"NOVA_ENV": "test", "TEST_MODE": "x"},
    ),
    Row(
        "keyword arguments win over env, env_file and secrets_dir",
        PORT_TOKEN,
        {"port": 8000, "model_config": SettingsConfigDict(env_file="app.env", secrets_dir="sd")},
        {"port": 3, "token": "kw-token"},
        env={"PORT": "1", "TOKEN": "env-token"},
        files={"app.env": "PORT=2\n", "sd/token": "dir-token"},
        kwargs={"port": 3, "token": "kw-token"},
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_row_loads_the_same_values_on_both_bases(row: Row, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row of the table loads identical values on BaseSettings and on SecretSettings."""
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)
    put(row.files)
    upstream, nova = load_both(row.annotations, row.namespace, row.kwargs)
    assert dump(upstream) == dict(row.expected)
    assert dump(nova) == dump(upstream)


# --- Documented differences: nova-config's additions on top of upstream --------------------------


def test_secrets_folder_ranks_above_env_file_on_secretsettings_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upstream reads env_file before secrets_dir; SecretSettings reads secret folders first."""
    monkeypatch.setenv("PORT", "1")
    put({"sd/token": "dir-token", "app.env": "TOKEN=file-token\n"})
    namespace = {
        "port": 8000,
        "model_config": SettingsConfigDict(secrets_dir="sd", env_file="app.env"),
    }
    upstream, nova = load_both(PORT_TOKEN, namespace)
    assert dump(upstream) == {"port": 1, "token": "file-token"}
    # Deliberate (issue 9's default order: init, env, secret folders, Vault, AWS, dotenv): a
    # mounted secret is the deployment's value, a .env file the developer's fallback.
    assert dump(nova) == {"port": 1, "token": "dir-token"}
    assert isinstance(nova, SecretSettings)
    assert nova.source_of("token").source == "files"


def test_dot_env_in_the_working_folder_is_read_by_secretsettings_only() -> None:
    """Without env_file, upstream reads no file; SecretSettings' dotenv store reads ./.env."""
    put({".env": "PORT=9001\n"})
    upstream, nova = load_both({"port": int}, {"port": 8000})
    assert dump(upstream) == {"port": 8000}
    # Deliberate: `.env` (with its `.env.<environment>` layer) is one of nova-config's stores,
    # in the default order; `_env_file=None` turns it off, as it turns off upstream's env_file.
    assert dump(nova) == {"port": 9001}
    assert isinstance(nova, SecretSettings)
    assert nova.source_of("port").source == "dotenv"


def test_env_file_none_turns_off_the_dot_env_store_too() -> None:
    """`_env_file=None` stops SecretSettings reading ./.env, so both bases load the default."""
    put({".env": "PORT=9001\n"})
    upstream, nova = load_both({"port": int}, {"port": 8000}, {"_env_file": None})
    assert dump(upstream) == dump(nova) == {"port": 8000}


def test_per_environment_variable_is_read_by_secretsettings_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NOVA_ENV=staging: SecretSettings reads STAGING_ in front of the whole name; upstream not."""
    monkeypatch.setenv("NOVA_ENV", "staging")
    monkeypatch.setenv("MYAPP_PORT", "1")
    monkeypatch.setenv("STAGING_MYAPP_PORT", "2")
    monkeypatch.setenv("MYAPP_TOKEN", "tok")
    namespace = {"port": 8000, "model_config": SettingsConfigDict(env_prefix="MYAPP_")}
    upstream, nova = load_both(PORT_TOKEN, namespace)
    assert dump(upstream) == {"port": 1, "token": "tok"}
    # Deliberate: the per-environment layer is one of nova-config's additions, documented as
    # the environment's prefix in front of the whole name env reads (env_prefix included).
    assert dump(nova) == {"port": 2, "token": "tok"}
    assert isinstance(nova, SecretSettings)
    assert nova.source_of("port").location == "STAGING_MYAPP_PORT"


def test_invalid_input_raises_settingserror_without_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed load is a SettingsError (still a ValidationError) that never quotes the input."""
    canary = "canary-Zq8vX3-not-a-port"
    monkeypatch.setenv("PORT", canary)
    monkeypatch.setenv("TOKEN", "tok")
    with pytest.raises(ValidationError) as upstream_error:
        model(BaseSettings, PORT_TOKEN, port=8000)()
    assert not isinstance(upstream_error.value, SettingsError)
    # Why nova-config differs: upstream's errors() keep the input, even with hide_input_in_errors.
    assert canary in str(upstream_error.value.errors())
    with pytest.raises(SettingsError) as nova_error:
        model(SecretSettings, PORT_TOKEN, port=8000)()
    error = nova_error.value
    assert isinstance(error, ValidationError)  # `except ValidationError` still catches it
    assert "PORT" in str(error)
    for text in (str(error), repr(error), str(error.errors()), error.json()):
        assert canary not in text


def test_invalid_secret_in_a_nested_model_is_not_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A nested model's invalid JSON fails on both bases; only SecretSettings hides the value."""
    canary = "canary-Pw7Nested"
    monkeypatch.setenv("DATABASE", f'{{"port": "{canary}", "password": "{canary}"}}')
    with pytest.raises(ValidationError) as upstream_error:
        model(BaseSettings, NESTED, name="app")()
    assert canary in str(upstream_error.value.errors())
    with pytest.raises(SettingsError) as nova_error:
        model(SecretSettings, NESTED, name="app")()
    assert "DATABASE" in str(nova_error.value)
    assert canary not in str(nova_error.value)
    assert canary not in nova_error.value.json()


# --- Every common field type ---------------------------------------------------------------------


class Color(enum.Enum):
    """An Enum field type."""

    RED = "red"
    BLUE = "blue"


EVERY_TYPE: Mapping[str, Any] = {
    "flag": bool,
    "count": int,
    "ratio": float,
    "data_dir": Path,
    "url": HttpUrl,
    "dsn": PostgresDsn,
    "mode": Literal["fast", "safe"],
    "color": Color,
    "when": datetime,
    "maybe": int | None,
    "absent": int | None,
    "token": SecretStr,
    "key": SecretBytes,
}
EVERY_TYPE_DEFAULTS: Mapping[str, Any] = {"maybe": None, "absent": None}
EVERY_TYPE_INPUT = {
    "flag": "true",
    "count": "42",
    "ratio": "0.25",
    "data_dir": "/var/lib/app",
    "url": "https://example.com/hook",
    "dsn": "postgresql://user:pw@db:5432/app",
    "mode": "safe",
    "color": "blue",
    "when": "2024-05-01T12:30:00+00:00",
    "maybe": "7",
    "token": "tok-every-type",
    "key": "bytes-secret",
}


@pytest.mark.parametrize("channel", ["env", "env_file", "secrets_dir", "kwargs"])
def test_every_common_field_type_loads_the_same_values(
    channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bool, int, float, Path, HttpUrl, PostgresDsn, Literal, Enum, datetime, Optional, secrets."""
    namespace: dict[str, Any] = dict(EVERY_TYPE_DEFAULTS)
    kwargs: dict[str, Any] = {}
    if channel == "env":
        for name, value in EVERY_TYPE_INPUT.items():
            monkeypatch.setenv(name.upper(), value)
    elif channel == "env_file":
        put({"app.env": "".join(f"{k.upper()}={v}\n" for k, v in EVERY_TYPE_INPUT.items())})
        namespace["model_config"] = SettingsConfigDict(env_file="app.env")
    elif channel == "secrets_dir":
        put({f"sd/{k}": v for k, v in EVERY_TYPE_INPUT.items()})
        namespace["model_config"] = SettingsConfigDict(secrets_dir="sd")
    else:
        kwargs = dict(EVERY_TYPE_INPUT)
    upstream, nova = load_both(EVERY_TYPE, namespace, kwargs)
    expected = {
        "flag": True,
        "count": 42,
        "ratio": 0.25,
        "data_dir": Path("/var/lib/app"),
        "url": HttpUrl("https://example.com/hook"),
        "dsn": PostgresDsn("postgresql://user:pw@db:5432/app"),
        "mode": "safe",
        "color": Color.BLUE,
        "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        "maybe": 7,
        "absent": None,
        "token": "tok-every-type",
        "key": b"bytes-secret",
    }
    assert dump(upstream) == expected
    assert dump(nova) == dump(upstream)
    assert type(nova.model_dump()["token"]) is SecretStr
    assert type(nova.model_dump()["key"]) is SecretBytes


# --- The environment, mutability, equality and copies --------------------------------------------


def test_secretsettings_adds_no_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """SecretSettings declares no field; the environment is known from NOVA_ENV, not a field."""
    assert SecretSettings.model_fields == {}
    monkeypatch.setenv("NOVA_ENV", "staging")
    monkeypatch.setenv("ENVIRONMENT", "whatever")
    upstream, nova = load_both({"port": int}, {"port": 8000})
    assert dump(upstream) == dump(nova) == {"port": 8000}
    assert isinstance(nova, SecretSettings)
    assert nova.resolution.environment == "staging"


def test_own_environment_field_is_not_replaced_by_nova_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model's `environment: Literal[...]` loads from ENVIRONMENT while NOVA_ENV drives nova."""
    monkeypatch.setenv("NOVA_ENV", "test")
    upstream, nova = load_both({"environment": Literal["dev", "prod"]}, {"environment": "dev"})
    assert dump(upstream) == dump(nova) == {"environment": "dev"}
    assert isinstance(nova, SecretSettings)
    assert nova.resolution.environment == "test"
    assert nova.source_of("environment").source == "default"


def add_url(self: Any) -> Any:
    """An after-validator that assigns a field from the others."""
    self.url = f"http://{self.host}:{self.port}"
    return self


URL_MODEL: Mapping[str, Any] = {"host": str, "port": int, "url": str}
URL_NAMESPACE: Mapping[str, Any] = {
    "host": "localhost",
    "port": 8000,
    "url": "",
    "add_url": model_validator(mode="after")(add_url),
}


def test_after_validator_may_assign_a_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model_validator(mode="after") that sets `self.url` works: settings are not frozen."""
    monkeypatch.setenv("HOST", "db")
    upstream, nova = load_both(URL_MODEL, URL_NAMESPACE)
    assert dump(upstream)["url"] == "http://db:8000"
    assert dump(nova) == dump(upstream)


@pytest.mark.parametrize("base", BASES, ids=["BaseSettings", "SecretSettings"])
def test_monkeypatch_setattr_on_settings(
    base: type[BaseSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monkeypatch.setattr(settings, "port", ...)` works on both bases (not frozen)."""
    settings = model(base, {"port": int}, port=8000)()
    monkeypatch.setattr(settings, "port", 9999)
    assert settings.model_dump() == {"port": 9999}


def test_frozen_true_is_honoured_on_both() -> None:
    """frozen=True, the user's choice, refuses assignment on both bases."""
    namespace = {"port": 8000, "model_config": SettingsConfigDict(frozen=True)}
    upstream, nova = load_both({"port": int}, namespace)
    with pytest.raises(ValidationError):
        upstream.port = 1  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        nova.port = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("base", BASES, ids=["BaseSettings", "SecretSettings"])
def test_equal_settings_compare_equal_whatever_their_source(
    base: type[BaseSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`==` compares values only: one from env, one from a keyword argument, are equal."""
    cls = model(base, PORT_TOKEN, port=8000)
    monkeypatch.setenv("TOKEN", "same")
    from_env = cls()
    from_kwarg = cls(_env_file=None, token="same")
    monkeypatch.delenv("TOKEN")
    other = cls(token="different")
    assert from_env == from_kwarg
    assert from_env != other


def test_model_copy_update_on_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """model_copy(update=) gives the same values; SecretSettings records the update as init."""
    monkeypatch.setenv("PORT", "8100")
    monkeypatch.setenv("TOKEN", "tok")
    upstream, nova = load_both(PORT_TOKEN, {"port": 8000})
    upstream_copy = upstream.model_copy(update={"port": 1})
    nova_copy = nova.model_copy(update={"port": 1})
    assert dump(upstream_copy) == dump(nova_copy) == {"port": 1, "token": "tok"}
    assert isinstance(nova_copy, SecretSettings)
    assert isinstance(nova, SecretSettings)
    assert nova_copy.source_of("port").source == "init"
    assert "model_copy" in nova_copy.source_of("port").location
    assert nova_copy.source_of("token").source == "env"
    assert nova.source_of("port").source == "env"  # the original keeps its record


def test_model_construct_on_both() -> None:
    """model_construct() builds on both; SecretSettings' source_of then raises a clear error."""
    values: dict[str, Any] = {"token": "t"}
    upstream = model(BaseSettings, PORT_TOKEN, port=8000).model_construct(**values)
    nova = model(SecretSettings, PORT_TOKEN, port=8000).model_construct(**values)
    assert upstream.model_dump() == nova.model_dump() == {"port": 8000, "token": "t"}
    assert isinstance(nova, SecretSettings)
    with pytest.raises(SettingsError, match=r"built with model_construct\(\), not loaded"):
        nova.source_of("port")


# --- settings_customise_sources and provenance ---------------------------------------------------


def test_dropped_env_source_is_not_in_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    """With env dropped by an override, SecretSettings reports the default as the port's source."""
    monkeypatch.setenv("PORT", "1")
    nova = model(
        SecretSettings, {"port": int}, port=8000, settings_customise_sources=classmethod(drop_env)
    )()
    assert isinstance(nova, SecretSettings)
    assert nova.model_dump() == {"port": 8000}
    assert nova.source_of("port").source == "default"
    assert "env" not in nova.resolution.sources


def test_reordered_sources_name_the_env_file_in_provenance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An override putting env_file before env: the port comes from it, and provenance says so."""
    monkeypatch.setenv("PORT", "1")
    put({"app.env": "PORT=9000\n"})
    nova = model(
        SecretSettings,
        {"port": int},
        port=8000,
        model_config=SettingsConfigDict(env_file="app.env"),
        settings_customise_sources=classmethod(dotenv_over_env),
    )()
    assert isinstance(nova, SecretSettings)
    assert nova.model_dump() == {"port": 9000}
    assert "app.env" in nova.source_of("port").location


# --- The CLI source ------------------------------------------------------------------------------


def test_cli_parse_args_is_read_on_both() -> None:
    """`_cli_parse_args=["--port", "1"]` sets the field on BaseSettings and on SecretSettings."""
    upstream, nova = load_both({"port": int}, {"port": 8000}, {"_cli_parse_args": ["--port", "1"]})
    assert dump(upstream) == {"port": 1}
    assert dump(nova) == dump(upstream)


def test_cli_parse_args_in_model_config_ranks_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli_parse_args in model_config: the argument wins over env on both bases."""
    monkeypatch.setenv("PORT", "2")
    namespace = {
        "port": 8000,
        "model_config": SettingsConfigDict(cli_parse_args=["--port", "3"]),
    }
    upstream, nova = load_both({"port": int}, namespace)
    assert dump(upstream) == {"port": 3}
    assert dump(nova) == dump(upstream)
