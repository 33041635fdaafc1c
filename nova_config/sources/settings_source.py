"""nova-config's stores as pydantic-settings sources, for any `BaseSettings` model.

Each class here is a `PydanticBaseSettingsSource`: add it to a plain `BaseSettings` through
`settings_customise_sources`, as the pydantic-settings docs show for their own sources::

    class Settings(BaseSettings):
        api_key: SecretStr

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                       dotenv_settings, file_secret_settings):
            return init_settings, env_settings, VaultSettingsSource(settings_cls)

Inside a plain `BaseSettings` a store keeps its one request per path (or per secret id), its
bounded time and the failure policy (NOVA_ENV, NOVA_ON_SOURCE_ERROR). What it cannot give there
is provenance (`source_of`) and the one `SettingsError` that lists every problem of a load with
no value in it: a store's own problems are raised at once, as a `SettingsError`; pydantic's
`ValidationError` for the model itself is pydantic's. `SecretSettings` gives both.

Options are keyword arguments; each falls back to the variable the README documents for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar

from nova_config.sources.adapter import StoreSettingsSource

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from nova_config.resolve import Load


class SecretFilesSettingsSource(StoreSettingsSource):
    """Docker and Kubernetes secret folders and `<NAME>_FILE` variables.

    Options: `secrets_dirs` (NOVA_SECRETS_DIR; default /run/secrets).
    """

    store = "files"
    options: ClassVar[dict[str, str]] = {"secrets_dirs": "NOVA_SECRETS_DIR"}
    separator = os.pathsep


class DotenvSettingsSource(StoreSettingsSource):
    """A `.env` file with `.env.<environment>` layered on top; not read in production.

    Options: `env_file` (NOVA_ENV_FILE; default `.env`), `allow_in_production`
    (NOVA_ALLOW_DOTENV).
    """

    store = "dotenv"
    options: ClassVar[dict[str, str]] = {
        "env_file": "NOVA_ENV_FILE",
        "allow_in_production": "NOVA_ALLOW_DOTENV",
    }


class VaultSettingsSource(StoreSettingsSource):
    """HashiCorp Vault or OpenBao KV secrets, one request per path.

    Options: `addr` (VAULT_ADDR), `namespace` (VAULT_NAMESPACE), `paths` (NOVA_VAULT_PATH),
    `mount` (NOVA_VAULT_MOUNT), `kv_version` (NOVA_VAULT_KV_VERSION), `timeout`
    (NOVA_VAULT_TIMEOUT), `deadline` (NOVA_VAULT_DEADLINE), `retries` (NOVA_VAULT_RETRIES).
    Credentials come from the Vault variables only (VAULT_TOKEN, ~/.vault-token, AppRole,
    Kubernetes), never from code.
    """

    store = "vault"
    options: ClassVar[dict[str, str]] = {
        "addr": "VAULT_ADDR",
        "namespace": "VAULT_NAMESPACE",
        "paths": "NOVA_VAULT_PATH",
        "mount": "NOVA_VAULT_MOUNT",
        "kv_version": "NOVA_VAULT_KV_VERSION",
        "timeout": "NOVA_VAULT_TIMEOUT",
        "deadline": "NOVA_VAULT_DEADLINE",
        "retries": "NOVA_VAULT_RETRIES",
    }
    required = ("addr", "an address")


class AwsSecretsSettingsSource(StoreSettingsSource):
    """AWS Secrets Manager JSON secrets, one GetSecretValue per secret id.

    Options: `secret_ids` (NOVA_AWS_SECRET_ID), `version_stage` (NOVA_AWS_VERSION_STAGE),
    `timeout` (NOVA_AWS_TIMEOUT), `deadline` (NOVA_AWS_DEADLINE). Credentials, region and
    endpoint are boto3's own chain.
    """

    store = "aws"
    options: ClassVar[dict[str, str]] = {
        "secret_ids": "NOVA_AWS_SECRET_ID",
        "version_stage": "NOVA_AWS_VERSION_STAGE",
        "timeout": "NOVA_AWS_TIMEOUT",
        "deadline": "NOVA_AWS_DEADLINE",
    }
    required = ("secret_ids", "a secret")


_STORE_SOURCES: dict[str, type[StoreSettingsSource]] = {
    "files": SecretFilesSettingsSource,
    "dotenv": DotenvSettingsSource,
    "vault": VaultSettingsSource,
    "aws": AwsSecretsSettingsSource,
}


def store_source(name: str, settings_cls: type[BaseSettings], load: Load) -> StoreSettingsSource:
    """The source of a registered store for one SecretSettings load."""
    cls = _STORE_SOURCES.get(name)
    if cls is None:
        cls = type(f"{name.title()}StoreSource", (StoreSettingsSource,), {"store": name})
        _STORE_SOURCES[name] = cls
    return cls(settings_cls, _load=load)


__all__ = [
    "AwsSecretsSettingsSource",
    "DotenvSettingsSource",
    "SecretFilesSettingsSource",
    "StoreSettingsSource",
    "VaultSettingsSource",
    "store_source",
]
