"""The walkthrough's data: the demo secrets, and every step of the tour with what it must do.

`walkthrough.py` runs these; nothing here runs anything. Environment values, phrases and rows are
templates (`$workdir`, `$vault_addr`, `$vault_token`, `$vault_pid`, `$moto_url`), filled in when
the step runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NamedTuple


class Secret(StrEnum):
    """Every demo secret value, the one list that masking and the final leak search use.

    The dev server's root token is random per run; the tour adds it when the server starts.
    """

    WEBHOOK_TOKEN = "dEmO9xQ2kP7vL4mR8tY1wZ3bN6cH5jF0gD_sA-uEiOp2XyT7rWq4Ns8MkLb3Vc6Hn1Jd"
    WEBHOOK_URL = f"https://discord.com/api/webhooks/1187465320987654321/{WEBHOOK_TOKEN}"
    DB_PASSWORD = "tsdb-Demo-7Hq2-Wm9x-Lp4K"
    DOTENV_DB_PASSWORD = "tsdb#Demo=9fQ2xL!vR"  # '#' and '=' inside a double-quoted .env value
    FILE_DB_PASSWORD = "tsdb-file-Demo-3Kx8Zq"  # the one behind TIMESCALE_PASSWORD_FILE
    ALPACA_KEY = "AKDEMO7Q2M4X9LZ3T8WB"  # Alpaca-style key id: AK + 18 characters
    STAGING_ALPACA_KEY = "AKDEMOSTG5R1N8J2V6PC"
    ALPACA_SECRET = "dEmOsK4q8Zr2Lx7Vn3Tb9Wm1Hc6Jp5Yg0Fd2Ks8Q"
    # Step 7: Vault holds one path per environment, with different values in each; production's
    # password is then rotated (a second version of its path).
    DEV_VAULT_WEBHOOK_TOKEN = (
        "dEvVaUlT3kP8vQ1mR6tY9wZ2bN5cH4jF7gD_sA-uEiOp0XyT3rWq6Ns1MkLb8Vc2Hn5Jd"
    )
    DEV_VAULT_WEBHOOK_URL = (
        f"https://discord.com/api/webhooks/1187465320987650701/{DEV_VAULT_WEBHOOK_TOKEN}"
    )
    DEV_VAULT_DB_PASSWORD = "tsdb-vault-Dev-4Nc7-Qx2R"
    DEV_VAULT_ALPACA_KEY = "AKDEMOVDEV8K3P1Q9X2M"
    DEV_VAULT_ALPACA_SECRET = "dEvVsK2q7Zr9Lx4Vn1Tb6Wm3Hc8Jp5Yg2Fd0Ks7W"
    PROD_VAULT_WEBHOOK_TOKEN = (
        "pRoDvAuLt7xQ2kL4mR9tY1wZ6bN3cH8jF5gD_sA-uEiOp4XyT9rWq2Ns7MkLb1Vc5Hn3Jd"
    )
    PROD_VAULT_WEBHOOK_URL = (
        f"https://discord.com/api/webhooks/1187465320987650702/{PROD_VAULT_WEBHOOK_TOKEN}"
    )
    PROD_VAULT_DB_PASSWORD = "tsdb-vault-Prod-8Lm3-Zt6W"
    PROD_VAULT_DB_PASSWORD_ROTATED = "tsdb-vault-Prod-2Vd9-Hs4K"
    PROD_VAULT_ALPACA_KEY = "AKDEMOVPRD4T7N2L6R9C"
    PROD_VAULT_ALPACA_SECRET = "pRoDvSk9q3Zr6Lx1Vn8Tb4Wm7Hc2Jp5Yg0Fd3Ks6R"
    # Step 8: the staging secret in AWS Secrets Manager.
    STG_AWS_WEBHOOK_TOKEN = "sTgAwS5xQ8kP2vL7mR3tY6wZ9bN1cH4jF0gD_sA-uEiOp8XyT2rWq5Ns9MkLb6Vc1Hn7Jd"
    STG_AWS_WEBHOOK_URL = (
        f"https://discord.com/api/webhooks/1187465320987650703/{STG_AWS_WEBHOOK_TOKEN}"
    )
    STG_AWS_DB_PASSWORD = "tsdb-aws-Stg-6Wp1-Kd8N"
    STG_AWS_ALPACA_KEY = "AKDEMOASTG2X5M8Q1T4V"
    STG_AWS_ALPACA_SECRET = "sTgAsK6q1Zr4Lx9Vn2Tb7Wm5Hc3Jp8Yg1Fd6Ks2T"
    # moto accepts any key pair, but the secret half of it is treated as a secret all the same.
    DEMO_AWS_SECRET_KEY = "dEmOaWsSeCrEtKeY/7Qx2Lm9Vt4Rb8Nw1Hc6Jp3Zy"


# --- steps as data -------------------------------------------------------------------------------


class Want(NamedTuple):
    """A field that must come from `origin` ("source:end of location") holding exactly `value`."""

    field: str
    origin: str
    value: str


@dataclass(frozen=True)
class Step:
    """One command of the tour and what it must do.

    Environment values, phrases and rows are templates: `$workdir` is the section's working
    folder, `$vault_addr`, `$vault_token` and `$vault_pid` the dev server's, `$moto_url` moto's.
    """

    title: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the clean environment
    files: Mapping[str, str] = field(default_factory=dict)  # path in the working folder: text
    links: Mapping[str, str] = field(default_factory=dict)  # symlink: its target
    show: tuple[str, ...] = ()  # files printed, demo secrets as ***
    listing: tuple[str, ...] = ()  # folders whose names and link targets are printed
    remove: tuple[str, ...] = ()  # files removed first
    stop_vault: bool = False  # stop the dev server first
    note: str = ""  # a line for the reader, before the command
    stdin: str = ""  # a program fed to `python -`
    status: int = 0  # 0 for a step that must work, 1 for one that must be refused
    said: tuple[str, ...] = ()  # phrases the output must hold
    not_said: tuple[str, ...] = ()  # phrases it must not hold
    rows: tuple[tuple[str, ...], ...] = ()  # lines that must start with these cells (2+ spaces)
    json_fields: tuple[Mapping[str, object], ...] = ()  # `check --json` fields that must exist
    wants: tuple[Want, ...] = ()  # checked by demo/verify.py in the same environment


@dataclass(frozen=True)
class Section:
    """A numbered part of the tour: its own working folder and, for 7 and 8, a server."""

    title: str
    steps: tuple[Step, ...]
    server: Literal["", "vault", "moto"] = ""


CHECK = ("nova-config", "check")
# What a store holds for one environment: one JSON object, its keys the field names.
STORE_FIELDS = ("discord_webhook_url", "timescale_password", "alpaca_api_key", "alpaca_secret_key")


def store_values(url: str, password: str, key: str, secret: str) -> dict[str, str]:
    """The four secrets of one environment, keyed by field name as both stores hold them."""
    return dict(zip(STORE_FIELDS, (url, password, key, secret), strict=True))


def store_json(values: Mapping[str, str]) -> str:
    """One environment's secrets as the JSON object a store holds."""
    return json.dumps(dict(values), indent=2) + "\n"


def store_rows(source: str, path: str) -> tuple[tuple[str, ...], ...]:
    """The table rows of the four secrets read from `path` of a store."""
    return tuple((name.upper(), source, f"{path}#{name}") for name in STORE_FIELDS)


def store_wants(source: str, path: str, values: Mapping[str, str]) -> tuple[Want, ...]:
    """The four secrets as read from `path` of a store, with their exact values."""
    return tuple(Want(name, f"{source}:{path}#{name}", value) for name, value in values.items())


DEV_VAULT = store_values(
    Secret.DEV_VAULT_WEBHOOK_URL,
    Secret.DEV_VAULT_DB_PASSWORD,
    Secret.DEV_VAULT_ALPACA_KEY,
    Secret.DEV_VAULT_ALPACA_SECRET,
)
PROD_VAULT = store_values(
    Secret.PROD_VAULT_WEBHOOK_URL,
    Secret.PROD_VAULT_DB_PASSWORD,
    Secret.PROD_VAULT_ALPACA_KEY,
    Secret.PROD_VAULT_ALPACA_SECRET,
)
PROD_VAULT_ROTATION = {"timescale_password": Secret.PROD_VAULT_DB_PASSWORD_ROTATED}
STG_AWS = store_values(
    Secret.STG_AWS_WEBHOOK_URL,
    Secret.STG_AWS_DB_PASSWORD,
    Secret.STG_AWS_ALPACA_KEY,
    Secret.STG_AWS_ALPACA_SECRET,
)
# The secrets of step 1, reused wherever the environment holds them.
ENV_SECRETS = {
    "DISCORD_WEBHOOK_URL": Secret.WEBHOOK_URL,
    "TIMESCALE_PASSWORD": Secret.DB_PASSWORD,
    "ALPACA_API_KEY": Secret.ALPACA_KEY,
}
# The .env people really write: `export` in front, a quoted value holding '#' and '=', and a
# comment after a value. None of it may end up in the value.
DOTENV_STEP2 = f"""\
# Local development secrets for Nova Aetus
export DISCORD_WEBHOOK_URL={Secret.WEBHOOK_URL}

TIMESCALE_PASSWORD="{Secret.DOTENV_DB_PASSWORD}"
ALPACA_API_KEY={Secret.ALPACA_KEY}  # paper-trading key id
TIMESCALE_PORT=6543
"""
DOTENV_STEP6 = f"""\
DISCORD_WEBHOOK_URL={Secret.WEBHOOK_URL}
TIMESCALE_PASSWORD={Secret.DB_PASSWORD}
ALPACA_API_KEY={Secret.ALPACA_KEY}
"""
DOTENV_STEP7 = DOTENV_STEP6 + f"ALPACA_SECRET_KEY={Secret.ALPACA_SECRET}\n"
# Kubernetes mounts a Secret as a timestamped folder, a `..data` link to it (swapped atomically on
# update) and one top-level link per key through `..data`.
K8S_VERSION = "..2026_11_28_00_00_00.000"
SECRET_FOLDERS = "$workdir/docker-secrets:$workdir/k8s-secrets"  # ':' between, first one first
# Small values keep the tour quick when Vault is down in 7d and 7e.
VAULT_ENV = {
    "VAULT_ADDR": "$vault_addr",
    "VAULT_TOKEN": "$vault_token",
    "NOVA_VAULT_TIMEOUT": "1",
    "NOVA_VAULT_RETRIES": "0",
}
# boto3's own configuration: endpoint, key pair and region (moto accepts any key pair).
AWS_ENV = {
    "AWS_ENDPOINT_URL": "$moto_url",
    "AWS_ACCESS_KEY_ID": "demo-access-key-id",
    "AWS_SECRET_ACCESS_KEY": Secret.DEMO_AWS_SECRET_KEY,
    "AWS_DEFAULT_REGION": "us-east-1",
}
PROVENANCE_PROGRAM = """\
from nova_config import NovaSettings
s = NovaSettings()
print(s.source_of("alpaca_api_key"))
print(repr(s.alpaca_api_key))
print(s.alpaca_api_key)
"""
CREATE_SECRET_PROGRAM = """\
import boto3
client = boto3.client("secretsmanager")  # endpoint, keys and region: the AWS_* variables
with open("staging.json", encoding="utf-8") as f:
    reply = client.create_secret(Name="nova-aetus/staging", SecretString=f.read())
print("created", reply["Name"], "version", reply["VersionId"])
"""
DEV_PATH = "secret/nova-aetus/development"
PROD_PATH = "secret/nova-aetus/production"
VAULT_DOWN = "vault at $vault_addr: unreachable"

SECTIONS = (
    Section(
        "Environment variables only",
        (
            Step(
                "The simplest deployment: everything in the process environment",
                CHECK,
                env=ENV_SECRETS | {"TIMESCALE_HOST": "db.demo.internal"},
                rows=(("ALPACA_API_KEY", "env", "ALPACA_API_KEY"),),
            ),
        ),
    ),
    Section(
        "A .env file in the working folder (no environment variables)",
        (
            Step(
                "export, quotes, '#' and '=' inside a value, a comment after one",
                CHECK,
                files={".env": DOTENV_STEP2},
                show=(".env",),
                wants=(
                    Want("discord_webhook_url", "dotenv:/.env:2", Secret.WEBHOOK_URL),
                    Want("timescale_password", "dotenv:/.env:4", Secret.DOTENV_DB_PASSWORD),
                    Want("alpaca_api_key", "dotenv:/.env:5", Secret.ALPACA_KEY),
                    Want("timescale_port", "dotenv:/.env:6", "6543"),
                ),
            ),
        ),
    ),
    Section(
        "Secret files: a Docker secrets folder and a Kubernetes-style mounted volume",
        (
            Step(
                "One file per secret; names in any case, '-' or '_', db_password an alias",
                CHECK,
                env={"NOVA_SECRETS_DIR": SECRET_FOLDERS},
                files={
                    "docker-secrets/discord_webhook_url": f"{Secret.WEBHOOK_URL}\n",
                    "docker-secrets/db_password": f"{Secret.DB_PASSWORD}\n",
                    "docker-secrets/alpaca-api-key": f"{Secret.ALPACA_KEY}\n",
                    f"k8s-secrets/{K8S_VERSION}/alpaca_secret_key": f"{Secret.ALPACA_SECRET}\n",
                    f"k8s-secrets/{K8S_VERSION}/timescale_user": "nova_app\n",
                },
                links={
                    "k8s-secrets/..data": K8S_VERSION,
                    "k8s-secrets/alpaca_secret_key": "..data/alpaca_secret_key",
                    "k8s-secrets/timescale_user": "..data/timescale_user",
                },
                listing=("docker-secrets", "k8s-secrets"),
                wants=(
                    Want(
                        "discord_webhook_url",
                        "files:/docker-secrets/discord_webhook_url",
                        Secret.WEBHOOK_URL,
                    ),
                    Want(
                        "timescale_password",
                        "files:/docker-secrets/db_password",
                        Secret.DB_PASSWORD,
                    ),
                    Want(
                        "alpaca_api_key", "files:/docker-secrets/alpaca-api-key", Secret.ALPACA_KEY
                    ),
                    Want(
                        "alpaca_secret_key",
                        "files:/k8s-secrets/alpaca_secret_key",
                        Secret.ALPACA_SECRET,
                    ),
                    Want("timescale_user", "files:/k8s-secrets/timescale_user", "nova_app"),
                ),
            ),
            Step(
                "The <NAME>_FILE convention (as in the official Docker images): a path in a"
                " variable",
                CHECK,
                env={
                    "NOVA_SECRETS_DIR": SECRET_FOLDERS,
                    "TIMESCALE_PASSWORD_FILE": "$workdir/elsewhere/tsdb-password.txt",
                },
                files={"elsewhere/tsdb-password.txt": f"{Secret.FILE_DB_PASSWORD}\n"},
                note=(
                    "TIMESCALE_PASSWORD_FILE is read before the folders: it beats"
                    " docker-secrets/db_password"
                ),
                said=("(from TIMESCALE_PASSWORD_FILE)",),
                wants=(
                    Want(
                        "timescale_password",
                        "files:/tsdb-password.txt (from TIMESCALE_PASSWORD_FILE)",
                        Secret.FILE_DB_PASSWORD,
                    ),
                ),
            ),
        ),
    ),
    Section(
        "Per-environment override: in staging, STAGING_ALPACA_API_KEY beats ALPACA_API_KEY",
        (
            Step(
                "Both names set; NOVA_ENV=staging picks the prefixed one",
                CHECK,
                env={"NOVA_ENV": "staging"}
                | ENV_SECRETS
                | {"STAGING_ALPACA_API_KEY": Secret.STAGING_ALPACA_KEY},
                rows=(("ALPACA_API_KEY", "env", "STAGING_ALPACA_API_KEY"),),
                wants=(
                    Want("alpaca_api_key", "env:STAGING_ALPACA_API_KEY", Secret.STAGING_ALPACA_KEY),
                ),
            ),
        ),
    ),
    Section(
        "In Python: provenance, and a secret that does not print",
        (
            Step(
                "Mixed on purpose: the key from a secrets folder, the rest from the environment",
                ("python", "-"),
                env={"NOVA_SECRETS_DIR": "$workdir/secrets"}
                | {
                    name: ENV_SECRETS[name]
                    for name in ("DISCORD_WEBHOOK_URL", "TIMESCALE_PASSWORD")
                },
                files={"secrets/alpaca-api-key": f"{Secret.ALPACA_KEY}\n"},
                stdin=PROVENANCE_PROGRAM,
                said=("files: $workdir/secrets/alpaca-api-key", "SecretStr('**********')"),
            ),
        ),
    ),
    Section(
        "Production fails fast",
        (
            Step(
                "Secrets only in a .env: production does not read .env files",
                CHECK,
                env={"NOVA_ENV": "production"},
                files={".env": DOTENV_STEP6},
                show=(".env",),
                status=1,
                said=(".env files are not read in production",),
            ),
            Step(
                "...unless it is asked for explicitly (it then warns)",
                CHECK,
                env={"NOVA_ENV": "production", "NOVA_ALLOW_DOTENV": "1"},
                said=("reading .env files in production because NOVA_ALLOW_DOTENV is set",),
                rows=(("ALPACA_API_KEY", "dotenv", "$workdir/.env:3"),),
            ),
            Step(
                "A placeholder value: production (and staging) refuse it",
                CHECK,
                env={"NOVA_ENV": "production"} | ENV_SECRETS | {"TIMESCALE_PASSWORD": "changeme"},
                remove=(".env",),
                status=1,
                said=("is a placeholder",),
            ),
        ),
    ),
    Section(
        "HashiCorp Vault (a local OpenBao dev server): one path per environment, and a Vault"
        " that is down",
        (
            Step(
                "Write development's secrets (a .env is here too, as on a laptop)",
                ("bao", "kv", "put", DEV_PATH, "@development.json"),
                env=VAULT_ENV,
                files={
                    ".env": DOTENV_STEP7,
                    "development.json": store_json(DEV_VAULT),
                    "production.json": store_json(PROD_VAULT),
                    "rotation.json": json.dumps(PROD_VAULT_ROTATION) + "\n",
                },
                show=(".env", "development.json"),
                note=(
                    "defaults: NOVA_VAULT_TIMEOUT=3 s per attempt, NOVA_VAULT_RETRIES=2; smaller"
                    " here so the tour is quick; the values go in as JSON files, never on a"
                    " command line"
                ),
                rows=(("version", "1"),),
            ),
            Step(
                "Write production's secrets, other values at another path",
                ("bao", "kv", "put", PROD_PATH, "@production.json"),
                env=VAULT_ENV,
                rows=(("version", "1"),),
            ),
            Step(
                "A rotation: production's path gets a second version, with a new password",
                ("bao", "kv", "patch", PROD_PATH, "@rotation.json"),
                env=VAULT_ENV,
                show=("rotation.json",),
                rows=(("version", "2"),),
            ),
            Step(
                "Development (NOVA_ENV unset) reads secret/nova-aetus/development (then the shared"
                " secret/nova-aetus)",
                CHECK,
                env=VAULT_ENV,
                not_said=("unreachable",),
                rows=store_rows("vault", DEV_PATH),
                wants=store_wants("vault", DEV_PATH, DEV_VAULT),
            ),
            Step(
                "Production reads secret/nova-aetus/production: same token, same code, other"
                " values",
                CHECK,
                env=VAULT_ENV | {"NOVA_ENV": "production"},
                not_said=("unreachable",),
                rows=store_rows("vault", PROD_PATH),
                wants=store_wants("vault", PROD_PATH, PROD_VAULT | PROD_VAULT_ROTATION),
            ),
            Step(
                "check --json also gives each value's version: production's path is at version 2",
                (*CHECK, "--json"),
                env=VAULT_ENV | {"NOVA_ENV": "production"},
                json_fields=(
                    {
                        "variable": "TIMESCALE_PASSWORD",
                        "location": f"{PROD_PATH}#timescale_password",
                        "version": "2",  # versions are strings: KV v2 numbers, AWS ids
                    },
                ),
            ),
            Step(
                "Vault goes down: development warns and falls back to the .env",
                CHECK,
                env=VAULT_ENV,
                stop_vault=True,
                note="the default in development and test: warn, go on with the other sources",
                said=(f"warning: {VAULT_DOWN}",),
                rows=(
                    ("DISCORD_WEBHOOK_URL", "dotenv", "$workdir/.env:1"),
                    ("ALPACA_API_KEY", "dotenv", "$workdir/.env:3"),
                ),
                wants=(
                    Want("discord_webhook_url", "dotenv:/.env:1", Secret.WEBHOOK_URL),
                    Want("timescale_password", "dotenv:/.env:2", Secret.DB_PASSWORD),
                    Want("alpaca_api_key", "dotenv:/.env:3", Secret.ALPACA_KEY),
                    Want("alpaca_secret_key", "dotenv:/.env:4", Secret.ALPACA_SECRET),
                ),
            ),
            Step(
                "...while production fails fast: it must not boot on whatever else is lying around",
                CHECK,
                env=VAULT_ENV | {"NOVA_ENV": "production"},
                status=1,
                said=(
                    f"{VAULT_DOWN} (connection refused",
                    "(the default in production is to fail)",
                ),
            ),
        ),
        server="vault",
    ),
    Section(
        "AWS Secrets Manager (a local moto server): one JSON secret per environment",
        (
            Step(
                "Create the staging secret with boto3",
                ("python", "-"),
                env=AWS_ENV,
                files={
                    "staging.json": store_json(STG_AWS),
                },
                show=("staging.json",),
                stdin=CREATE_SECRET_PROGRAM,
                said=("created nova-aetus/staging",),
            ),
            Step(
                "Staging reads nova-aetus/staging",
                CHECK,
                env=AWS_ENV
                | {"NOVA_ENV": "staging", "NOVA_AWS_SECRET_ID": "nova-aetus/{environment}"},
                note="NOVA_AWS_SECRET_ID: comma-separated ids; {environment} is replaced",
                rows=store_rows("aws", "nova-aetus/staging"),
                wants=store_wants("aws", "nova-aetus/staging", STG_AWS),
            ),
        ),
        server="moto",
    ),
)
