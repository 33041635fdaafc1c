"""The least-privilege policy an app needs in one environment, as Vault HCL or AWS IAM JSON.

The paths and secret ids are the app's own, read from the process environment exactly as the
sources read them (`VaultConfig.from_environ`, `AwsSource`'s id parsing). Nothing is sent
anywhere: the AWS account is `*` unless `AWS_ACCOUNT_ID` names it, the region `*` unless
`AWS_REGION`/`AWS_DEFAULT_REGION` does. The text never holds a credential: no token, key or
secret id of a login is read here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from nova_config.errors import SettingsError, UsageError
from nova_config.resolve import source_order
from nova_config.sources import gate_reason

if TYPE_CHECKING:
    from nova_config.sources.vault_config import VaultConfig

ROLES: tuple[str, ...] = ("reader", "watcher", "rotator")
FORMATS: tuple[str, ...] = ("vault-hcl", "aws-iam")
STORE_OF_FORMAT = {"vault-hcl": "vault", "aws-iam": "aws"}

# What each role may do beyond reading, per store. A watcher polls versions (watch(), reload,
# rotation-status); a rotator writes (nova-config rotate, with --database its pending value):
# it needs no metadata, so it is reader plus writes, not watcher plus writes.
VAULT_WRITE = {2: "patch", 1: "update"}  # KV v1 rewrites an existing path: update, not create
AWS_ACTIONS: dict[str, tuple[str, ...]] = {
    "reader": ("secretsmanager:GetSecretValue",),
    "watcher": (
        "secretsmanager:DescribeSecret",  # watch(): the version holding the stage
        "secretsmanager:GetSecretValue",
        "secretsmanager:ListSecretVersionIds",  # rotation-status: each version's CreatedDate
    ),
    "rotator": (
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",  # the new version (AWSPENDING with --database)
        "secretsmanager:UpdateSecretVersionStage",  # --database: AWSCURRENT moved to it
    ),
}
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


def usage_error(exc: SettingsError) -> UsageError:
    """A configuration error as the command reports it: its causes, without the load's title."""
    return UsageError("; ".join(problem.message for problem in exc.problems))


class Grant(NamedTuple):
    """One Vault ACL path and the capabilities the role needs on it."""

    path: str
    capabilities: tuple[str, ...]


def configured_stores(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The secret stores a load would consult (`vault`, `aws`), in the sources' order.

    Raises:
        UsageError: NOVA_SOURCES cannot be used.
    """
    try:
        order = source_order(environ)
    except SettingsError as exc:
        raise usage_error(exc) from None
    return tuple(s for s in order if s in STORE_OF_FORMAT.values() and not gate_reason(s, environ))


def vault_config(environ: Mapping[str, str], environment: str) -> VaultConfig:
    """Vault's configuration as the source reads it.

    Raises:
        UsageError: the Vault variables cannot be used.
    """
    from nova_config.sources.vault_config import VaultConfig  # noqa: PLC0415 - Vault only

    try:
        return VaultConfig.from_environ(environ, environment)
    except SettingsError as exc:
        raise usage_error(exc) from None


def vault_grants(config: VaultConfig, role: str) -> list[Grant]:
    """Each path's capabilities: its data path, and for a watcher its metadata path (KV v2).

    Raises:
        UsageError: a path holds a policy glob.
    """
    grants: list[Grant] = []
    for path in config.paths:
        if "*" in path or "+" in path:
            # The app reads such a path literally, but a policy would take it as a glob.
            raise UsageError(f"NOVA_VAULT_PATH has {path!r}: * and + would be globs in a policy")
        data = config.url(path).removeprefix("v1/")  # the path the source reads
        capabilities = ("read", VAULT_WRITE[config.kv_version]) if role == "rotator" else ("read",)
        grants.append(Grant(data, capabilities))
        if role == "watcher" and config.kv_version == 2:
            grants.append(Grant(f"{config.mount}/metadata/{path}", ("read",)))
    return grants


def vault_hcl(environ: Mapping[str, str], environment: str, role: str) -> str:
    """The Vault/OpenBao ACL policy, as `bao policy write NAME -` reads it."""
    config = vault_config(environ, environment)
    where = f"KV v{config.kv_version} at {config.mount}/"
    if config.namespace:
        where += f", namespace {config.namespace}"
    lines = [f"# nova-config policy: {role} in {environment} ({where})"]
    if role == "watcher" and config.kv_version == 1:
        lines.append("# KV v1 keeps no versions: watch() cannot poll it, so no metadata path")
    for grant in vault_grants(config, role):
        capabilities = ", ".join(json.dumps(c) for c in grant.capabilities)
        lines += [f"path {json.dumps(grant.path)} {{", f"  capabilities = [{capabilities}]", "}"]
    return "\n".join(lines) + "\n"


def aws_secret_ids(environ: Mapping[str, str], environment: str) -> tuple[str, ...]:
    """NOVA_AWS_SECRET_ID's ids for the environment, parsed by the AWS source itself.

    Raises:
        UsageError: the variable names no secret or has an unknown placeholder.
    """
    from nova_config.sources.aws import AwsSource  # noqa: PLC0415 - AWS only
    from nova_config.sources.base import LoadContext  # noqa: PLC0415 - same

    try:
        return AwsSource(LoadContext(environment, environ, ())).secret_ids
    except SettingsError as exc:
        raise usage_error(exc) from None


def secret_arn(secret_id: str, region: str, account: str) -> str:
    """The ARN pattern of one secret: an ARN as given; a name with AWS's random suffix.

    AWS appends `-` and six random characters to a secret's name in its ARN; `??????` matches
    exactly those, where `*` would also match `<name>-other`, another secret.
    """
    if secret_id.startswith("arn:"):
        return secret_id
    if "*" in secret_id or "?" in secret_id:
        raise UsageError(f"NOVA_AWS_SECRET_ID has {secret_id!r}: * and ? are ARN wildcards")
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    if region.startswith("us-gov-"):
        partition = "aws-us-gov"
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_id}-??????"


def iam_policy(environ: Mapping[str, str], environment: str, role: str) -> dict[str, object]:
    """The IAM policy document, as a dict (`iam_json` gives its text)."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or ""
    region = region.strip() if _REGION.fullmatch(region.strip()) else "*"
    account = environ.get("AWS_ACCOUNT_ID", "").strip()
    account = account if _ACCOUNT.fullmatch(account) else "*"
    ids = aws_secret_ids(environ, environment)
    resources = list(dict.fromkeys(secret_arn(i, region, account) for i in ids))
    sid = f"NovaConfig{role.title()}{environment.title()}"
    statement = {"Sid": sid, "Effect": "Allow", "Action": list(AWS_ACTIONS[role])}
    statement["Resource"] = resources
    return {"Version": "2012-10-17", "Statement": [statement]}


def iam_json(environ: Mapping[str, str], environment: str, role: str) -> str:
    """The IAM policy's JSON, as `aws iam put-user-policy --policy-document file://-` reads it."""
    return json.dumps(iam_policy(environ, environment, role), indent=2) + "\n"


def choose_format(environ: Mapping[str, str], wanted: str | None) -> tuple[str, tuple[str, ...]]:
    """The format to print and the stores configured; Vault's by default when both are.

    Raises:
        UsageError: no store is configured, or not the one the format is for.
    """
    stores = configured_stores(environ)
    if wanted is None:
        if not stores:
            raise UsageError(
                "neither Vault (VAULT_ADDR) nor AWS Secrets Manager (NOVA_AWS_SECRET_ID) is "
                "configured: there is no store to write a policy for"
            )
        wanted = "vault-hcl" if "vault" in stores else "aws-iam"
    if STORE_OF_FORMAT[wanted] not in stores:
        needs = "VAULT_ADDR" if wanted == "vault-hcl" else "NOVA_AWS_SECRET_ID"
        raise UsageError(
            f"--format {wanted} is for {STORE_OF_FORMAT[wanted]}, which is not configured "
            f"(set {needs}, or NOVA_SOURCES naming it)"
        )
    return wanted, stores


def render(environ: Mapping[str, str], environment: str, role: str, fmt: str) -> str:
    """The policy text of one role, environment and format.

    Args:
        environ: the process environment (the stores' variables).
        environment: one of `ENVIRONMENTS`.
        role: one of `ROLES`.
        fmt: one of `FORMATS`.

    Raises:
        UsageError: the store's variables cannot be used.
    """
    if fmt == "vault-hcl":
        return vault_hcl(environ, environment, role)
    return iam_json(environ, environment, role)


__all__ = [
    "AWS_ACTIONS",
    "FORMATS",
    "ROLES",
    "Grant",
    "aws_secret_ids",
    "choose_format",
    "configured_stores",
    "iam_json",
    "iam_policy",
    "render",
    "secret_arn",
    "usage_error",
    "vault_config",
    "vault_grants",
    "vault_hcl",
]
