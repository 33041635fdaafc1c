"""`nova-config policy`: the exact text per role and format, and each policy tried on a real
OpenBao (the HCL as written) and on moto with IAM enforced (the actions; see `_moto_policy`)."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import boto3
import hvac
import hvac.exceptions
import pytest
from botocore.exceptions import ClientError

from nova_config import NovaSettings
from nova_config.errors import UsageError
from nova_config.policy_cli import add_policy_parser, run_policy
from nova_config.rotate_cli import add_rotate_parser, run_rotate
from tests.support.data import VALID_FIELDS, VAULT_SECRETS
from tests.support.moto import REGION, MotoServer, boto_environ
from tests.support.openbao import KV1_MOUNT, OpenBao


class Result(NamedTuple):
    code: int
    out: str
    err: str


Policy = Callable[..., Result]
CANARIES = {
    "VAULT_TOKEN": "hvs.CANARYtoken0policy0never0shown",
    "VAULT_SECRET_ID": "canary-secret-id-policy-3e1f",
    "AWS_ACCESS_KEY_ID": "AKIACANARYPOLICY0001",
    "AWS_SECRET_ACCESS_KEY": "canary/secret+access+key/policy0e9d",
    "AWS_SESSION_TOKEN": "canary-session-token-policy-77aa",
}


@pytest.fixture
def policy(capsys: pytest.CaptureFixture[str]) -> Policy:
    """Run `nova-config policy ARGV` in process, with `main`'s handling of usage errors."""

    def run(*argv: str) -> Result:
        parser = argparse.ArgumentParser(prog="nova-config")
        add_policy_parser(parser.add_subparsers(dest="command", required=True))
        try:
            code = run_policy(parser.parse_args(["policy", *argv]))
        except SystemExit as exc:  # argparse's own usage error
            code = int(exc.code or 0)
        except UsageError as exc:
            sys.stderr.write(f"nova-config: {exc}\n")
            code = 2
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
    monkeypatch.setenv("NOVA_VAULT_PATH", "app/{environment},app")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", "app/{environment},app/shared")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


def hcl(header: str, *grants: tuple[str, str]) -> str:
    body = "".join(f'path "{p}" {{\n  capabilities = [{c}]\n}}\n' for p, c in grants)
    return f"# nova-config policy: {header}\n{body}"


R, RP, RU = '"read"', '"read", "patch"', '"read", "update"'
KV2 = "(KV v2 at secret/)"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "reader",
            hcl(f"reader in staging {KV2}", ("secret/data/app/staging", R), ("secret/data/app", R)),
        ),
        (
            "watcher",
            hcl(
                f"watcher in staging {KV2}",
                ("secret/data/app/staging", R),
                ("secret/metadata/app/staging", R),
                ("secret/data/app", R),
                ("secret/metadata/app", R),
            ),
        ),
        (
            "rotator",
            hcl(
                f"rotator in staging {KV2}",
                ("secret/data/app/staging", RP),
                ("secret/data/app", RP),
            ),
        ),
    ],
)
@pytest.mark.usefixtures("vault_env")
def test_vault_hcl_per_role_is_exact(policy: Policy, role: str, expected: str) -> None:
    assert policy("--env", "staging", "--role", role) == Result(0, expected, "")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("reader", hcl("reader in production (KV v1 at kv/)", ("kv/app/production", R))),
        (
            "watcher",
            "# nova-config policy: watcher in production (KV v1 at kv/)\n"
            "# KV v1 keeps no versions: watch() cannot poll it, so no metadata path\n"
            'path "kv/app/production" {\n  capabilities = ["read"]\n}\n',
        ),
        ("rotator", hcl("rotator in production (KV v1 at kv/)", ("kv/app/production", RU))),
    ],
)
def test_vault_kv1_paths_have_no_data_prefix(
    policy: Policy, monkeypatch: pytest.MonkeyPatch, role: str, expected: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
    monkeypatch.setenv("NOVA_VAULT_PATH", "/app/{environment}/")
    monkeypatch.setenv("NOVA_VAULT_MOUNT", "/kv/")
    monkeypatch.setenv("NOVA_VAULT_KV_VERSION", "1")
    assert policy("--env", "production", "--role", role) == Result(0, expected, "")


def test_vault_env_defaults_to_nova_env_and_paths_to_the_sources_default(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three paths, one repeated after substitution: listed once, in priority order."""
    monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
    monkeypatch.setenv("NOVA_ENV", "test")
    monkeypatch.setenv("VAULT_NAMESPACE", "team-a")
    monkeypatch.setenv("NOVA_VAULT_PATH", "a/{environment},b,a/test,c/{environment}/x")
    assert policy().out == hcl(
        "reader in test (KV v2 at secret/, namespace team-a)",
        ("secret/data/a/test", R),
        ("secret/data/b", R),
        ("secret/data/c/test/x", R),
    )


def iam(sid: str, actions: list[str], resources: list[str]) -> str:
    statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2) + "\n"


EU = "arn:aws:secretsmanager:eu-west-1:*:secret:"
GET = "secretsmanager:GetSecretValue"


@pytest.mark.parametrize(
    ("role", "actions"),
    [
        ("reader", [GET]),
        (
            "watcher",
            ["secretsmanager:DescribeSecret", GET, "secretsmanager:ListSecretVersionIds"],
        ),
        (
            "rotator",
            [GET, "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
        ),
    ],
)
@pytest.mark.usefixtures("aws_env")
def test_aws_iam_per_role_is_exact(policy: Policy, role: str, actions: list[str]) -> None:
    sid = f"NovaConfig{role.title()}Staging"
    resources = [f"{EU}app/staging-??????", f"{EU}app/shared-??????"]
    assert policy("--env", "staging", "--role", role) == Result(0, iam(sid, actions, resources), "")


def test_aws_arns_kept_account_and_region_from_the_environment(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:shared-AbCdEf"
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", f"app/{{environment}}, {given_arn},app/production")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    monkeypatch.setenv("AWS_ACCOUNT_ID", "123456789012")
    expected = ["arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:app/production-??????"]
    assert policy("--env", "production").out == iam(
        "NovaConfigReaderProduction", [GET], [*expected, given_arn]
    )


def test_aws_without_region_or_account_uses_wildcards(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", "app/{environment}")
    monkeypatch.setenv("AWS_ACCOUNT_ID", "not-an-account")
    out = json.loads(policy("--env", "development").out)
    assert out["Statement"][0]["Resource"] == [
        "arn:aws:secretsmanager:*:*:secret:app/development-??????"
    ]


@pytest.mark.usefixtures("vault_env", "aws_env")
def test_default_format_is_vault_when_both_are_configured_with_a_note(policy: Policy) -> None:
    result = policy("--env", "staging")
    assert result.out.startswith("# nova-config policy: reader in staging")
    assert result.err == "nova-config: AWS is configured too: --format aws-iam for its policy\n"
    aws = policy("--env", "staging", "--format", "aws-iam")
    assert (aws.err, json.loads(aws.out)["Version"]) == ("", "2012-10-17")


@pytest.mark.usefixtures("aws_env")
def test_default_format_is_aws_when_only_aws_is_configured(policy: Policy) -> None:
    assert json.loads(policy("--env", "staging").out)["Statement"][0]["Action"] == [GET]


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        (
            {},
            (),
            "neither Vault (VAULT_ADDR) nor AWS Secrets Manager (NOVA_AWS_SECRET_ID) is "
            "configured: there is no store to write a policy for",
        ),
        (
            {"VAULT_ADDR": "http://127.0.0.1:8200"},
            ("--format", "aws-iam"),
            "--format aws-iam is for aws, which is not configured (set NOVA_AWS_SECRET_ID, "
            "or NOVA_SOURCES naming it)",
        ),
        (
            {"NOVA_AWS_SECRET_ID": "x"},
            ("--format", "vault-hcl"),
            "--format vault-hcl is for vault, which is not configured (set VAULT_ADDR, "
            "or NOVA_SOURCES naming it)",
        ),
        (
            {"VAULT_ADDR": "http://127.0.0.1:8200", "NOVA_VAULT_PATH": "a/{env}"},
            (),
            "NOVA_VAULT_PATH may use only the {environment} placeholder",
        ),
        (
            {"VAULT_ADDR": "http://127.0.0.1:8200", "NOVA_VAULT_PATH": "a/*"},
            (),
            "NOVA_VAULT_PATH has 'a/*': * and + would be globs in a policy",
        ),
        (
            {"VAULT_ADDR": "http://127.0.0.1:8200", "NOVA_VAULT_KV_VERSION": "3"},
            (),
            "NOVA_VAULT_KV_VERSION must be 1 or 2",
        ),
        ({"NOVA_AWS_SECRET_ID": " , "}, (), "NOVA_AWS_SECRET_ID names no secret"),
        ({"NOVA_SOURCES": "env,aws"}, (), "NOVA_AWS_SECRET_ID names no secret"),
        (
            {"NOVA_AWS_SECRET_ID": "a/{region}"},
            (),
            "NOVA_AWS_SECRET_ID has an unknown placeholder {region}; only {environment} is "
            "replaced",
        ),
        (
            {"NOVA_AWS_SECRET_ID": "a/*"},
            (),
            "NOVA_AWS_SECRET_ID has 'a/*': * and ? are ARN wildcards",
        ),
        (
            {"VAULT_ADDR": "http://127.0.0.1:8200", "NOVA_ENV": "prod"},
            (),
            "NOVA_ENV must be one of development, test, staging, production (got a value that "
            "is none of them)",
        ),
        (
            {"VAULT_ADDR": "http://127.0.0.1:8200"},
            ("--settings", "no_such_module_x:Settings"),
            "cannot import no_such_module_x: No module named 'no_such_module_x'",
        ),
    ],
)
def test_usage_errors_exit_2_with_a_message_and_no_policy(
    policy: Policy,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert policy(*argv) == Result(2, "", f"nova-config: {message}\n")


@pytest.mark.parametrize("argv", [("--role", "admin"), ("--format", "yaml"), ("--env", "prod")])
@pytest.mark.usefixtures("vault_env")
def test_unknown_choices_are_refused_by_the_parser(policy: Policy, argv: tuple[str, ...]) -> None:
    result = policy(*argv)
    assert (result.code, result.out) == (2, "")
    assert "invalid choice" in result.err


@pytest.mark.usefixtures("vault_env", "aws_env")
def test_a_settings_class_that_imports_is_accepted(policy: Policy) -> None:
    assert policy("--env", "staging", "--settings", "nova_config:NovaSettings").code == 0


@pytest.mark.parametrize("fmt", ["vault-hcl", "aws-iam"])
@pytest.mark.parametrize("role", ["reader", "watcher", "rotator"])
@pytest.mark.usefixtures("vault_env", "aws_env")
def test_no_credential_is_ever_printed_and_output_is_deterministic(
    policy: Policy, monkeypatch: pytest.MonkeyPatch, fmt: str, role: str
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VAULT_ROLE_ID", "canary-role-id-policy-51c2")
    first = policy("--env", "staging", "--format", fmt, "--role", role)
    assert first.code == 0
    for canary in [*CANARIES.values(), "canary-role-id-policy-51c2"]:
        assert canary not in first.out + first.err
    assert policy("--env", "staging", "--format", fmt, "--role", role) == first


# --- OpenBao: the generated HCL, written as it is printed, is all a token needs ----------------


@contextmanager
def as_token(server: OpenBao, token: str) -> Iterator[hvac.Client]:
    client = server.client(token)
    try:
        yield client
    finally:
        client.adapter.close()


@pytest.fixture
def holder(
    at_vault: OpenBao, base: str, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], str]:
    """Seed staging, shared and production; then `holder(role)` switches VAULT_TOKEN to a new
    token holding only the generated policy (plus OpenBao's `default`) and returns it."""
    staging = {k: v for k, v in VAULT_SECRETS.items() if k != "discord_webhook_url"}
    at_vault.write_kv2(f"{base}/staging", staging)
    at_vault.write_kv2(base, {"discord_webhook_url": VAULT_SECRETS["discord_webhook_url"]})
    at_vault.write_kv2(f"{base}/production", VAULT_SECRETS)

    def hold(role: str) -> str:
        result = policy("--env", "staging", "--role", role)
        assert result.code == 0
        name = f"nova-{role}-{base}"
        with as_token(at_vault, at_vault.root_token) as root:
            root.sys.create_or_update_policy(name=name, policy=result.out)
        token = at_vault.token([name])
        monkeypatch.setenv("VAULT_TOKEN", token)
        return token

    return hold


def read(kv: Any, path: str) -> Any:
    return kv.read_secret_version(path, raise_on_deleted_version=True)


def merge_patch(client: hvac.Client, path: str, cas: int = 1) -> object:
    """One PATCH as `rotate` sends it (hvac's own `patch` reads first, which would be denied)."""
    return client.adapter.request(
        "PATCH",
        f"/v1/secret/data/{path}",
        json={"options": {"cas": cas}, "data": {"k": "v"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )


def denied(action: Callable[[], object]) -> bool:
    try:
        action()
    except hvac.exceptions.Forbidden:
        return True
    return False


@pytest.mark.usefixtures("fresh_logins")
def test_openbao_reader_loads_staging_and_may_not_read_production_write_or_list(
    at_vault: OpenBao, base: str, holder: Callable[[str], str]
) -> None:
    token = holder("reader")
    settings = NovaSettings(environment="staging")
    assert settings.timescale_password.get_secret_value() == VAULT_SECRETS["timescale_password"]
    assert (
        settings.source_of("discord_webhook_url").location == f"secret/{base}#discord_webhook_url"
    )
    with as_token(at_vault, token) as client:
        kv = client.secrets.kv.v2
        assert denied(lambda: read(kv, f"{base}/production"))
        assert denied(lambda: kv.create_or_update_secret(f"{base}/staging", secret={"k": "v"}))
        assert denied(lambda: kv.list_secrets(base))
        assert denied(lambda: kv.read_secret_metadata(f"{base}/staging"))


@pytest.mark.usefixtures("fresh_logins")
def test_openbao_watcher_reads_metadata_and_may_not_write(
    at_vault: OpenBao, base: str, holder: Callable[[str], str]
) -> None:
    token = holder("watcher")
    assert NovaSettings(environment="staging").resolution.environment == "staging"
    with as_token(at_vault, token) as client:
        kv = client.secrets.kv.v2
        for path in (f"{base}/staging", base):
            assert kv.read_secret_metadata(path)["data"]["current_version"] == 1
        assert denied(lambda: kv.read_secret_metadata(f"{base}/production"))
        assert denied(lambda: merge_patch(client, f"{base}/staging"))
        assert denied(lambda: kv.create_or_update_secret(f"{base}/staging", secret={"k": "v"}))


def rotate(*argv: str, stdin: str, monkeypatch: pytest.MonkeyPatch) -> int:
    parser = argparse.ArgumentParser(prog="nova-config")
    add_rotate_parser(parser.add_subparsers(dest="command", required=True))
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_rotate(parser.parse_args(["rotate", *argv]))


@pytest.mark.usefixtures("fresh_logins")
def test_openbao_rotator_rotates_and_may_not_read_another_environment(
    at_vault: OpenBao,
    base: str,
    holder: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = holder("rotator")
    new = "rotated-by-policy-9c0d"
    assert rotate("timescale_password", "--env", "staging", stdin=new, monkeypatch=monkeypatch) == 0
    assert "version 1 -> 2" in capsys.readouterr().out
    with as_token(at_vault, token) as client:
        kv = client.secrets.kv.v2
        data = kv.read_secret_version(f"{base}/staging", raise_on_deleted_version=True)
        assert data["data"]["data"]["timescale_password"] == new
        merge_patch(client, f"{base}/staging", cas=2)  # the same PATCH is allowed where due
        assert read(kv, f"{base}/staging")["data"]["metadata"]["version"] == 3
        assert denied(lambda: read(kv, f"{base}/production"))
        assert denied(lambda: merge_patch(client, f"{base}/production"))
        assert denied(lambda: kv.read_secret_metadata(f"{base}/staging"))


@pytest.mark.usefixtures("fresh_logins")
def test_openbao_kv1_reader_and_rotator(
    at_vault: OpenBao, base: str, holder: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_VAULT_MOUNT", KV1_MOUNT)
    monkeypatch.setenv("NOVA_VAULT_KV_VERSION", "1")
    at_vault.write_kv1(f"{base}/staging", VAULT_SECRETS)
    at_vault.write_kv1(f"{base}/production", VAULT_SECRETS)
    token = holder("reader")
    assert NovaSettings(environment="staging").source_of("alpaca_api_key").source == "vault"
    with as_token(at_vault, token) as client:
        kv1 = client.secrets.kv.v1
        assert denied(lambda: kv1.read_secret(f"{base}/production", mount_point=KV1_MOUNT))
        assert denied(
            lambda: kv1.create_or_update_secret(
                f"{base}/staging", secret={"k": "v"}, method="PUT", mount_point=KV1_MOUNT
            )
        )
    holder("rotator")
    new = "kv1-new-4b"
    assert rotate("timescale_password", "--env", "staging", stdin=new, monkeypatch=monkeypatch) == 0


# --- moto with IAM enforced --------------------------------------------------------------------


def iam_match(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: `*` any run of characters, `?` exactly one, the rest literal."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, arn) is not None


def _moto_policy(generated: dict[str, Any]) -> str:
    """The generated policy as moto can enforce it: its actions, on resource `*`.

    moto 5 checks Secrets Manager calls against the resource `*` only (its Secrets Manager has
    no `_determine_resource`), so an Allow on any ARN, even the secret's exact one, denies
    everything there, and its matcher turns `?` into a regex error (HTTP 500). The actions are
    enforced by moto; the resources are checked against the real ARNs with `iam_match`.
    """
    statement = dict(generated["Statement"][0], Resource="*")
    return json.dumps({"Version": generated["Version"], "Statement": [statement]})


class Aws(NamedTuple):
    server: MotoServer
    arns: dict[str, str]
    client: Any  # the IAM user's Secrets Manager client


@pytest.fixture
def aws_user(
    moto_server: MotoServer, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Aws]:
    """Secrets for staging and production; `aws_user(role)` checks the generated policy's ARNs
    and switches the process to a new IAM user holding its actions."""
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    for name, value in boto_environ(moto_server.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", f"{prefix}/{{environment}}")
    admin = moto_server.secrets()
    arns = {
        env: admin.create_secret(Name=f"{prefix}/{env}", SecretString=json.dumps(VALID_FIELDS))[
            "ARN"
        ]
        for env in ("staging", "production")
    }

    def make(role: str) -> Aws:
        result = policy("--env", "staging", "--role", role)
        assert result.code == 0
        generated = json.loads(result.out)
        (pattern,) = generated["Statement"][0]["Resource"]
        assert pattern == f"arn:aws:secretsmanager:{REGION}:*:secret:{prefix}/staging-??????"
        assert iam_match(pattern, arns["staging"])
        assert not iam_match(pattern, arns["production"])
        assert not iam_match(pattern, arns["staging"].replace("staging-", "staging-x"))
        key = moto_server.user_with(_moto_policy(generated), f"{prefix}-{role}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        client = boto3.client(
            "secretsmanager",
            endpoint_url=moto_server.url,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        return Aws(moto_server, arns, client)

    return make


def aws_denied(action: Callable[[], object]) -> bool:
    try:
        action()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return False


def test_moto_reader_loads_staging_and_may_not_put_or_describe(
    aws_user: Callable[[str], Aws],
) -> None:
    aws = aws_user("reader")
    sid = aws.arns["staging"]
    with aws.server.enforcing_iam():
        settings = NovaSettings(environment="staging")
        assert settings.source_of("alpaca_api_key").source == "aws"
        assert aws.client.get_secret_value(SecretId=sid)["ARN"] == sid
        assert aws_denied(lambda: aws.client.put_secret_value(SecretId=sid, SecretString="{}"))
        assert aws_denied(lambda: aws.client.describe_secret(SecretId=sid))
    aws.client.close()


def test_moto_watcher_describes_and_lists_versions_and_may_not_put(
    aws_user: Callable[[str], Aws],
) -> None:
    aws = aws_user("watcher")
    sid = aws.arns["staging"]
    with aws.server.enforcing_iam():
        assert aws.client.describe_secret(SecretId=sid)["ARN"] == sid
        assert aws.client.list_secret_version_ids(SecretId=sid)["Versions"]
        assert aws_denied(lambda: aws.client.put_secret_value(SecretId=sid, SecretString="{}"))
    aws.client.close()


def test_moto_rotator_puts_and_moves_stages_and_may_not_describe(
    aws_user: Callable[[str], Aws],
) -> None:
    aws = aws_user("rotator")
    sid = aws.arns["staging"]
    with aws.server.enforcing_iam():
        put = aws.client.put_secret_value(
            SecretId=sid, SecretString=json.dumps(VALID_FIELDS), VersionStages=["AWSPENDING"]
        )
        aws.client.update_secret_version_stage(
            SecretId=sid, VersionStage="AWSPENDING", RemoveFromVersionId=put["VersionId"]
        )
        assert aws_denied(lambda: aws.client.describe_secret(SecretId=sid))
    aws.client.close()
