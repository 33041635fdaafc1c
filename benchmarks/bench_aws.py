"""Time loading secrets from AWS Secrets Manager: NovaSettings, the seed's boto3 reads, and
pydantic-settings' AWSSecretsManagerSettingsSource, against a local moto server."""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pydantic_settings
from pydantic import SecretStr
from pydantic_settings import (
    AWSSecretsManagerSettingsSource,
    BaseSettings,
    PydanticBaseSettingsSource,
)

# The project's root: the tests' moto server and counting forwarder, and their data, are
# reused from tests.support, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import store_bench  # this folder's module: found in the script's own folder
from nova_config import NovaSettings
from store_bench import SECRETS, SHARED, Case, Store
from tests.support.moto import FAKE_KEY_ID, FAKE_SECRET_KEY, REGION, Forwarder, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

ENV_ID = "nova-aetus/development"
SHARED_ID = "nova-aetus/shared"
BARE_HEADERS = {
    "X-Amz-Target": "secretsmanager.GetSecretValue",
    "Content-Type": "application/x-amz-json-1.1",
    # moto picks the service and region from the credential scope; the signature is not checked.
    "Authorization": f"AWS4-HMAC-SHA256 Credential={FAKE_KEY_ID}/20260101/{REGION}/"
    "secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
}
TARGET_SPEEDUP = 2.5
SEED_REUSED = "seed per-field, client reused"
NOVA_ONE_ID = "nova, one id"


class PlainAwsSettings(BaseSettings):
    """The three secrets through pydantic-settings' own AWS source, and from no other source."""

    discord_webhook_url: SecretStr
    timescale_password: SecretStr
    alpaca_api_key: SecretStr

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the secret; the source builds its boto3 client right here,
        once per instantiation (region and endpoint from AWS_DEFAULT_REGION, AWS_ENDPOINT_URL)."""
        return (init_settings, AWSSecretsManagerSettingsSource(settings_cls, secret_id=ENV_ID))


def get_secret(client: SecretsManagerClient, key: str) -> str:
    """The seed's get_secret(): one GetSecretValue of the environment's secret for one key."""
    response = client.get_secret_value(SecretId=ENV_ID)
    value: str = json.loads(response["SecretString"])[key]
    return value


def seed_read(client: SecretsManagerClient) -> dict[str, str]:
    """The seed at boot: get_secret() once per field, so one call per field."""
    return {key: get_secret(client, key) for key in SECRETS}


def seed_new_client(session: boto3.session.Session) -> dict[str, str]:
    """The same with the client built inside, as the seed's get_secret() does: one per load."""
    client = session.client("secretsmanager")
    try:
        return seed_read(client)
    finally:
        client.close()


def bare_read(connection: http.client.HTTPConnection) -> dict[str, str]:
    """The floor: one GetSecretValue as a bare http.client POST, unsigned (moto does not check
    signatures until IAM is enforced), no SDK; the forwarder closes the connection after it."""
    connection.request("POST", "/", json.dumps({"SecretId": ENV_ID}), BARE_HEADERS)
    data: dict[str, str] = json.loads(json.loads(connection.getresponse().read())["SecretString"])
    return {key: data[key] for key in SECRETS}


def build_cases(forwarder: Forwarder) -> list[Case]:
    """nova-config's two id layouts, the seed's two styles, pydantic-settings' source, a floor."""
    session = boto3.session.Session()
    client = session.client("secretsmanager")
    connection = http.client.HTTPConnection(forwarder.url.removeprefix("http://"))
    two_ids = {**SECRETS, "alpaca_secret_key": SHARED["alpaca_secret_key"]}
    return [
        Case(NOVA_ONE_ID, NovaSettings, "nova-aetus/{environment}"),
        Case("nova, two ids", NovaSettings, f"nova-aetus/{{environment}},{SHARED_ID}", two_ids),
        Case(SEED_REUSED, lambda: seed_read(client)),
        Case("seed per-field, new client per load", lambda: seed_new_client(session)),
        Case("pydantic-settings AWS source", PlainAwsSettings),
        Case("floor: one bare HTTP call", lambda: bare_read(connection)),
    ]


def print_header(server: MotoServer, forwarder: Forwarder, args: argparse.Namespace) -> None:
    """Versions and settings of this run."""
    print("nova-config AWS Secrets Manager benchmark")
    print(f"  python                   {sys.version.split()[0]} ({sys.executable})")
    print(
        f"  boto3 / botocore         {boto3.__version__} / {importlib.metadata.version('botocore')}"
    )
    print(f"  pydantic-settings        {pydantic_settings.__version__}")
    print(f"  server                   moto {importlib.metadata.version('moto')}, {server.url}")
    print(f"  forwarder                {forwarder.url} (counts calls; one connection per call)")
    print(f"  secrets                  {ENV_ID} (3 keys), {SHARED_ID} (2 keys)")
    store_bench.print_timing(args)
    print()


def prepare_environ(home: Path, forwarder: Forwarder) -> None:
    """Only this run's AWS_*/NOVA_* variables, and a HOME without a ~/.aws."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "NOVA_", "VAULT_", "BAO_")):
            del os.environ[name]
    os.environ.update(
        HOME=str(home),
        AWS_ENDPOINT_URL=forwarder.url,
        AWS_ACCESS_KEY_ID=FAKE_KEY_ID,
        AWS_SECRET_ACCESS_KEY=FAKE_SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        NOVA_SOURCES="aws",  # no other source can supply a value
        NOVA_ON_SOURCE_ERROR="fail",
    )


def create_secrets(server: MotoServer) -> None:
    """Both secrets, written straight to moto (not through the forwarder, so not counted)."""
    admin = server.secrets()
    admin.create_secret(Name=ENV_ID, SecretString=json.dumps(SECRETS))
    admin.create_secret(Name=SHARED_ID, SecretString=json.dumps(SHARED))


def aws_store(forwarder: Forwarder) -> Store:
    """NovaSettings' AWS source, its calls counted by the forwarder in front of moto."""

    def since(mark: int) -> list[str]:
        """The operation of each call the forwarder passed on after `mark`."""
        return [operation for operation, _ in forwarder.requests[mark:]]

    return Store(
        source="aws",
        variable="NOVA_AWS_SECRET_ID",
        place="id",
        unit="calls",
        mark=lambda: len(forwarder.requests),
        since=since,
        usual_operation="GetSecretValue",
    )


def main() -> int:
    """Start moto and the forwarder, create the secrets, measure every case that loads."""
    args = store_bench.parse_args(__doc__)
    # moto's server logs each request line through werkzeug.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        server = MotoServer()
    except (OSError, RuntimeError) as exc:
        print(f"the moto server did not start: {exc}", file=sys.stderr)
        return 1
    try:
        forwarder = Forwarder(server)
    except OSError as exc:
        server.stop()
        print(f"the counting forwarder did not start: {exc}", file=sys.stderr)
        return 1
    try:
        with store_bench.scratch_home("nova-bench-aws-") as home:
            prepare_environ(home, forwarder)
            create_secrets(server)
            print_header(server, forwarder, args)
            cases = build_cases(forwarder)
            store_bench.compare(aws_store(forwarder), cases, args, (SEED_REUSED, TARGET_SPEEDUP))
    finally:
        forwarder.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
