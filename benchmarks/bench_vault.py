"""Time loading secrets from Vault: NovaSettings, the seed's hvac reads, pydantic-settings-vault."""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import json
import os
import sys
from pathlib import Path
from typing import Any

import hvac
import pydantic_settings
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

# The project's root: the tests' OpenBao dev server (file audit device, request counting) and
# their data are reused from tests.support, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import store_bench  # this folder's module: found in the script's own folder
from nova_config import NovaSettings
from store_bench import SECRETS, SHARED, Case, Store
from tests.support.openbao import OpenBao

MOUNT = "secret"
ENV_PATH = "nova-aetus/development"
SHARED_PATH = "nova-aetus"
KV_PATH = f"{MOUNT}/data/{ENV_PATH}"
TARGET_SPEEDUP = 3.0
SEED_REUSED = "seed per-key, client reused"
NOVA_ONE_PATH = "nova, one path"


def vault_field(key: str) -> Any:
    """A pydantic-settings-vault field: one request to the environment's path for `key`."""
    return Field(json_schema_extra={"vault_secret_path": KV_PATH, "vault_secret_key": key})


class VaultPluginSettings(BaseSettings):
    """The three secrets through pydantic-settings-vault, and from no other source."""

    discord_webhook_url: SecretStr = vault_field("discord_webhook_url")
    timescale_password: SecretStr = vault_field("timescale_password")
    alpaca_api_key: SecretStr = vault_field("alpaca_api_key")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then Vault (token from VAULT_TOKEN, address from VAULT_ADDR)."""
        from pydantic_vault import VaultSettingsSource  # noqa: PLC0415 - a missing one skips a row

        return (init_settings, VaultSettingsSource(settings_cls))


def seed_read(client: hvac.Client) -> dict[str, str]:
    """The seed's get_secret() per key: one KV v2 read of the environment's path for each."""
    values: dict[str, str] = {}
    for key in SECRETS:
        response = client.secrets.kv.v2.read_secret_version(
            path=ENV_PATH, mount_point=MOUNT, raise_on_deleted_version=True
        )
        values[key] = response["data"]["data"][key]
    return values


def seed_new_client() -> dict[str, str]:
    """The seed at boot: a client built from VAULT_ADDR and VAULT_TOKEN, then the reads."""
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    try:
        return seed_read(client)
    finally:
        client.adapter.close()


def bare_read(connection: http.client.HTTPConnection) -> dict[str, str]:
    """The floor: one KV read over a kept-alive http.client connection, no client library."""
    connection.request(
        "GET", f"/v1/{KV_PATH}", headers={"X-Vault-Token": os.environ["VAULT_TOKEN"]}
    )
    data: dict[str, str] = json.loads(connection.getresponse().read())["data"]["data"]
    return {key: data[key] for key in SECRETS}


def build_cases(server: OpenBao) -> list[Case]:
    """nova-config's two path layouts, the seed's two styles, pydantic-settings-vault, a floor."""
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    connection = http.client.HTTPConnection(server.addr.removeprefix("http://"))
    two_paths = {**SECRETS, "alpaca_secret_key": SHARED["alpaca_secret_key"]}
    return [
        Case(NOVA_ONE_PATH, NovaSettings, "nova-aetus/{environment}"),
        Case("nova, two paths", NovaSettings, "nova-aetus/{environment},nova-aetus", two_paths),
        Case(SEED_REUSED, lambda: seed_read(client)),
        Case("seed per-key, new client per load", seed_new_client),
        Case("pydantic-settings-vault", VaultPluginSettings),
        Case("floor: one bare HTTP read", lambda: bare_read(connection)),
    ]


def print_header(server: OpenBao, args: argparse.Namespace) -> None:
    """Versions and settings of this run."""
    try:
        plugin = importlib.metadata.version("pydantic-settings-vault")
    except importlib.metadata.PackageNotFoundError:
        plugin = "not installed"
    root = server.client()
    try:
        version = root.sys.read_health_status(method="GET")["version"]
    finally:
        root.adapter.close()
    print("nova-config Vault benchmark")
    print(f"  python                   {sys.version.split()[0]} ({sys.executable})")
    print(f"  hvac                     {importlib.metadata.version('hvac')}")
    print(f"  pydantic-settings        {pydantic_settings.__version__}")
    print(f"  pydantic-settings-vault  {plugin}")
    print(f"  server                   OpenBao {version} dev, {server.addr}, root token")
    print(f"  secrets                  {MOUNT}/{ENV_PATH} (3 keys), {MOUNT}/{SHARED_PATH} (2 keys)")
    store_bench.print_timing(args)
    print("  requests                 counted by the server's file audit device")
    print()


def prepare_environ(home: Path, server: OpenBao) -> None:
    """Only this run's VAULT_*/NOVA_* variables, and a HOME without a ~/.vault-token."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_", "NOVA_")):
            del os.environ[name]
    os.environ.update(
        HOME=str(home),
        VAULT_ADDR=server.addr,
        VAULT_TOKEN=server.root_token,
        NOVA_SOURCES="vault",  # no other source can supply a value
        NOVA_ON_SOURCE_ERROR="fail",
    )


def seed(server: OpenBao) -> None:
    """Write both paths (the server fixture waits until `secret/` is KV v2 before it returns)."""
    server.write_kv2(ENV_PATH, SECRETS)
    server.write_kv2(SHARED_PATH, SHARED)


def vault_store(server: OpenBao) -> Store:
    """NovaSettings' Vault source, its requests counted by the server's file audit device."""

    def since(mark: int) -> list[str]:
        """The operation of each request the audit log shows after `mark`."""
        return [str(entry["request"]["operation"]) for entry in server.requests_since(mark)]

    return Store(
        source="vault",
        variable="NOVA_VAULT_PATH",
        place="path",
        unit="requests",
        mark=server.audit_mark,
        since=since,
    )


def main() -> int:
    """Start the server, seed it, measure every case that loads, print the figures."""
    args = store_bench.parse_args(__doc__)
    with store_bench.scratch_home("nova-bench-vault-") as home:
        server = store_bench.start_openbao(home)
        if server is None:
            return 1
        try:
            prepare_environ(home, server)
            seed(server)
            print_header(server, args)
            cases = build_cases(server)
            store_bench.compare(vault_store(server), cases, args, (SEED_REUSED, TARGET_SPEEDUP))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
