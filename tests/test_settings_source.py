"""Each store as a pydantic-settings source in a plain BaseSettings, against the real servers."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

import nova_config
from nova_config import (
    AwsSecretsSettingsSource,
    DotenvSettingsSource,
    SecretFilesSettingsSource,
    SettingsError,
    SourceConfigError,
    VaultSettingsSource,
)
from tests.support.helpers import write
from tests.support.loopback import HOST, free_port
from tests.support.moto import FAKE_KEY_ID, FAKE_SECRET_KEY, REGION, MotoServer
from tests.support.openbao import OpenBao

pytestmark = pytest.mark.usefixtures("fresh_logins")

CANARY = "CANARYsrc7e1d2c3b4a59"


class Plain(BaseSettings):
    """A plain pydantic-settings model with a secret, a list and a value with an alias."""

    alpaca_api_key: SecretStr
    hosts: list[str] = Field(default_factory=list)
    timescale_password: SecretStr = Field(default=SecretStr("unset"), alias="db_password")

    # The extra sources a test puts after init and env, as factories of the settings class.
    extra: ClassVar[list[Any]] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, the environment, then the test's nova sources."""
        return (init_settings, env_settings, *(make(settings_cls) for make in cls.extra))


@pytest.fixture
def with_sources(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the nova sources Plain reads after init and env, by factory."""

    def use(*factories: Any) -> None:
        monkeypatch.setattr(Plain, "extra", list(factories))

    return use


def test_every_store_source_is_exported_from_the_package() -> None:
    """The four store sources are pydantic-settings sources importable from nova_config."""
    for name in (
        "SecretFilesSettingsSource",
        "DotenvSettingsSource",
        "VaultSettingsSource",
        "AwsSecretsSettingsSource",
    ):
        cls = getattr(nova_config, name)
        assert issubclass(cls, PydanticBaseSettingsSource)
        assert name in nova_config.__all__


def test_vault_source_reads_one_path_once_in_a_plain_base_settings(
    at_vault: OpenBao, base: str, with_sources: Any
) -> None:
    """Vault fills a plain BaseSettings with one read per path; lists are JSON-decoded."""
    at_vault.write_kv2(
        base,
        {"alpaca_api_key": CANARY, "hosts": json.dumps(["a", "b"]), "db_password": "pw-123456"},
    )
    with_sources(lambda cls: VaultSettingsSource(cls, paths=[base]))
    mark = at_vault.audit_mark()
    settings = Plain()
    assert settings.alpaca_api_key.get_secret_value() == CANARY
    assert settings.hosts == ["a", "b"]
    assert settings.timescale_password.get_secret_value() == "pw-123456"
    assert len(at_vault.requests_since(mark, f"secret/data/{base}")) == 1
    assert CANARY not in repr(settings)


def test_vault_source_options_override_the_variables(
    at_vault: OpenBao, base: str, with_sources: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`paths=` wins over NOVA_VAULT_PATH; the environment option picks the path's layer."""
    at_vault.write_kv2(f"{base}/staging", {"alpaca_api_key": "from-staging-path"})
    monkeypatch.setenv("NOVA_VAULT_PATH", "no/such/path")
    with_sources(
        lambda cls: VaultSettingsSource(cls, paths=f"{base}/{{environment}}", environment="staging")
    )
    assert Plain().alpaca_api_key.get_secret_value() == "from-staging-path"


def test_vault_source_follows_the_failure_policy_in_a_plain_base_settings(
    monkeypatch: pytest.MonkeyPatch, with_sources: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Unreachable Vault: development warns and the env serves; production raises SettingsError."""
    monkeypatch.setenv("VAULT_TOKEN", f"s.{CANARY}")
    monkeypatch.setenv("ALPACA_API_KEY", "from-env")
    addr = f"http://{HOST}:{free_port()}"
    with_sources(lambda cls: VaultSettingsSource(cls, addr=addr, retries=0))
    with caplog.at_level(logging.WARNING, logger="nova_config"):
        assert Plain().alpaca_api_key.get_secret_value() == "from-env"
    assert any("going on without it" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("NOVA_ENV", "production")
    with pytest.raises(SettingsError) as excinfo:
        Plain()
    assert "unreachable" in str(excinfo.value)
    assert "the default in production is to fail" in str(excinfo.value)
    assert CANARY not in str(excinfo.value) + caplog.text


def test_vault_source_without_an_address_is_refused(with_sources: Any) -> None:
    """Added without addr= or VAULT_ADDR, the Vault source is a configuration error, not a no-op."""
    with_sources(VaultSettingsSource)
    with pytest.raises(SourceConfigError, match="needs an address"):
        Plain(alpaca_api_key="x")


def test_an_unknown_option_is_refused(with_sources: Any) -> None:
    """A misspelt option is named, never ignored."""
    with_sources(lambda cls: SecretFilesSettingsSource(cls, secret_dirs="/x"))
    with pytest.raises(SourceConfigError, match="has no option 'secret_dirs'"):
        Plain(alpaca_api_key="x")


def test_aws_source_reads_one_secret_in_a_plain_base_settings(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, with_sources: Any
) -> None:
    """AWS Secrets Manager fills a plain BaseSettings from one JSON secret."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    name = f"nova-test/{uuid.uuid4().hex[:12]}"
    moto_server.secrets().create_secret(
        Name=name, SecretString=json.dumps({"ALPACA_API_KEY": CANARY, "hosts": '["h1"]'})
    )
    with_sources(lambda cls: AwsSecretsSettingsSource(cls, secret_ids=[name]))
    settings = Plain()
    assert settings.alpaca_api_key.get_secret_value() == CANARY
    assert settings.hosts == ["h1"]


def test_aws_source_without_a_secret_id_is_refused(with_sources: Any) -> None:
    """Added without secret_ids= or NOVA_AWS_SECRET_ID, the AWS source is a configuration error."""
    with_sources(AwsSecretsSettingsSource)
    with pytest.raises(SourceConfigError, match="needs a secret"):
        Plain(alpaca_api_key="x")


def test_files_source_reads_kebab_case_and_aliases(tmp_path: Path, with_sources: Any) -> None:
    """Secret folders keep their rules in a plain BaseSettings: kebab-case names, aliases."""
    folder = tmp_path / "run-secrets"
    write(folder / "alpaca-api-key", CANARY + "\n")
    write(folder / "db_password", "pw-from-file")
    with_sources(lambda cls: SecretFilesSettingsSource(cls, secrets_dirs=[str(folder)]))
    settings = Plain()
    assert settings.alpaca_api_key.get_secret_value() == CANARY
    assert settings.timescale_password.get_secret_value() == "pw-from-file"


def test_files_source_problems_are_one_settings_error(tmp_path: Path, with_sources: Any) -> None:
    """A secret file that is not valid JSON for a list field is a named problem, not its text."""
    folder = tmp_path / "run-secrets"
    write(folder / "hosts", f"[{CANARY}")
    with_sources(lambda cls: SecretFilesSettingsSource(cls, secrets_dirs=str(folder)))
    with pytest.raises(SettingsError) as excinfo:
        Plain(alpaca_api_key="x")
    assert "HOSTS (files: " in str(excinfo.value)
    assert "is not valid JSON" in str(excinfo.value)
    assert CANARY not in str(excinfo.value)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None


def test_dotenv_source_layers_the_environment_file_and_refuses_production(
    tmp_path: Path, with_sources: Any
) -> None:
    """`.env.<environment>` overrides `.env`; in production the source reads nothing."""
    env_file = write(tmp_path / "app.env", f"ALPACA_API_KEY={CANARY}\n")
    write(tmp_path / "app.env.staging", "ALPACA_API_KEY=staging-key\n")
    with_sources(lambda cls: DotenvSettingsSource(cls, env_file=str(env_file)))
    assert Plain().alpaca_api_key.get_secret_value() == CANARY
    with_sources(
        lambda cls: DotenvSettingsSource(cls, env_file=str(env_file), environment="staging")
    )
    assert Plain().alpaca_api_key.get_secret_value() == "staging-key"
    with_sources(
        lambda cls: DotenvSettingsSource(cls, env_file=str(env_file), environment="production")
    )
    with pytest.raises(ValidationError):  # the plain model's own error: nothing was read
        Plain()
    with_sources(
        lambda cls: DotenvSettingsSource(
            cls, env_file=str(env_file), environment="production", allow_in_production=True
        )
    )
    assert Plain().alpaca_api_key.get_secret_value() == CANARY


def test_a_source_repr_names_where_it_reads_never_what(at_vault: OpenBao, base: str) -> None:
    """repr() of a store source shows its store and place; a skipped one says why."""
    at_vault.write_kv2(base, {"alpaca_api_key": CANARY})
    source = VaultSettingsSource(Plain, paths=base)
    assert source() == {"alpaca_api_key": CANARY}
    assert repr(source).startswith(f"VaultSettingsSource(VaultSource({at_vault.addr} secret/{base}")
    assert CANARY not in repr(source)
    assert CANARY not in repr(source())
    skipped = DotenvSettingsSource(Plain, environment="production")
    assert "not read in production" in repr(skipped)
