"""`nova-config rotate` against the real stores: OpenBao (KV v2 and v1) and moto (AWS).

The command runs through `run_rotate` with the parser `add_rotate_parser` builds, as `main`
builds it; standard input is replaced by a pipe or by a stand-in terminal.
"""

from __future__ import annotations

import json
import logging
import os
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nova_config import NovaSettings
from nova_config.audit_verify import verify
from nova_config.auditchain import COMMON_KEYS, lines_of
from nova_config.errors import RotationConflictError, StoreAccessError, StoreUnavailableError
from nova_config.rotate import locate, validate, write
from nova_config.rotate_aws import write_aws
from nova_config.rotate_vault import write_vault
from nova_config.sources import aws
from tests.support.data import (
    VALID,
    VALID_FIELDS,
    VAULT_CANARIES,
    VAULT_CANARY_PASSWORD,
    VAULT_SECRETS,
)
from tests.support.helpers import log_in_with_approle
from tests.support.leaks import chain_surfaces, locals_surfaces
from tests.support.moto import (
    Forwarder,
    MotoServer,
    boto_environ,
)
from tests.support.openbao import KV1_MOUNT, OpenBao
from tests.support.rotation import Result, Rotate, Terminal

pytestmark = pytest.mark.usefixtures("fresh_logins")

NEW = "rotated-pass-4c1d9e"
OTHER = {"unrelated_key": "keep-me-3f7a", "timescale_port": 6543}
URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")


# --- Vault -------------------------------------------------------------------------------------


def kv2(server: OpenBao, path: str) -> tuple[dict[str, Any], int]:
    """A KV v2 secret's current data and `current_version`, read as root."""
    client = server.client()
    try:
        kv = client.secrets.kv.v2
        data = kv.read_secret_version(path, raise_on_deleted_version=True)["data"]["data"]
        version = kv.read_secret_metadata(path)["data"]["current_version"]
    finally:
        client.adapter.close()
    return dict(data), int(version)


def kv1(server: OpenBao, path: str) -> dict[str, Any]:
    client = server.client()
    try:
        return dict(client.secrets.kv.v1.read_secret(path, mount_point=KV1_MOUNT)["data"])
    finally:
        client.adapter.close()


@pytest.fixture
def seeded(at_vault: OpenBao, base: str) -> str:
    """Development's secrets and two other keys at `<base>/development`, version 1; its path."""
    path = f"{base}/development"
    assert at_vault.write_kv2(path, {**VAULT_SECRETS, **OTHER}) == 1
    return path


def test_kv2_patch_changes_only_that_key_in_one_request(
    at_vault: OpenBao, seeded: str, rotate: Rotate
) -> None:
    """One PATCH (no read-modify-write), the other keys intact, version 1 -> 2, value unshown."""
    mark = at_vault.audit_mark()
    result = rotate("timescale_password", stdin=NEW + "\n")
    assert result == Result(
        0, f"rotated TIMESCALE_PASSWORD in secret/{seeded}#timescale_password: version 1 -> 2\n", ""
    )
    data, version = kv2(at_vault, seeded)
    assert data == {**VAULT_SECRETS, **OTHER, "timescale_password": NEW}
    assert version == 2
    writes = [
        entry["request"]["operation"]
        for entry in at_vault.requests_since(mark, f"secret/data/{seeded}")
        if entry["request"]["operation"] != "read"
    ]
    assert writes == ["patch"]


def test_field_named_by_its_variable_in_any_case_and_json_output(
    at_vault: OpenBao, seeded: str, rotate: Rotate
) -> None:
    result = rotate("Timescale_PASSWORD", "--json", stdin=NEW)
    assert result.code == 0
    assert json.loads(result.out) == {
        "field": "timescale_password",
        "variable": "TIMESCALE_PASSWORD",
        "store": "vault",
        "location": f"secret/{seeded}#timescale_password",
        "old_version": "1",
        "new_version": "2",
    }
    assert kv2(at_vault, seeded)[0]["timescale_password"] == NEW


def test_kv1_rewrites_the_whole_secret_keeping_the_other_keys(
    at_vault: OpenBao, base: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_VAULT_MOUNT", KV1_MOUNT)
    monkeypatch.setenv("NOVA_VAULT_KV_VERSION", "1")
    at_vault.write_kv1(base, {**VAULT_SECRETS, **OTHER})
    result = rotate("timescale_password", stdin=NEW)
    assert result == Result(
        0,
        f"rotated TIMESCALE_PASSWORD in {KV1_MOUNT}/{base}#timescale_password "
        "(KV v1 keeps no versions)\n",
        "",
    )
    assert kv1(at_vault, base) == {**VAULT_SECRETS, **OTHER, "timescale_password": NEW}


def test_a_write_between_the_read_and_the_patch_is_a_conflict(
    at_vault: OpenBao, seeded: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal: someone writes a version 2 while the user types; the PATCH's cas is 1."""
    concurrent = {**VAULT_SECRETS, "timescale_password": "written-meanwhile-77"}

    def getpass(prompt: str) -> str:
        if prompt == "the same again: ":
            at_vault.write_kv2(seeded, concurrent)  # after the load read version 1
        return NEW

    monkeypatch.setattr("getpass.getpass", getpass)
    result = rotate("timescale_password", stdin=Terminal("y\n"))
    assert result.code == 1
    assert result.err.startswith("write a new value of TIMESCALE_PASSWORD to vault: ")
    assert result.err.endswith(
        f"[y/N] nova-config: timescale_password not rotated: vault at {at_vault.addr}: "
        f"secret/{seeded} changed since it was read (version 1); run again\n"
    )
    assert kv2(at_vault, seeded) == (concurrent, 2)


def test_terminal_asks_twice_and_confirms_before_writing(
    at_vault: OpenBao,
    seeded: str,
    rotate: Rotate,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return NEW

    monkeypatch.setattr("getpass.getpass", getpass)
    declined = rotate("timescale_password", stdin=Terminal("n\n"))
    assert declined.code == 1
    assert declined.err.startswith(
        f"write a new value of TIMESCALE_PASSWORD to vault: secret/{seeded}#timescale_password "
        "(version 1) in development? [y/N] "
    )
    assert declined.err.endswith("not rotated: declined; nothing was written\n")
    assert prompts == ["new value of TIMESCALE_PASSWORD: ", "the same again: "]
    assert kv2(at_vault, seeded)[1] == 1
    accepted = rotate("timescale_password", stdin=Terminal("y\n"))
    assert accepted.code == 0
    assert kv2(at_vault, seeded) == ({**VAULT_SECRETS, **OTHER, "timescale_password": NEW}, 2)
    assert NEW not in accepted.out + accepted.err + declined.err


def test_two_different_entries_on_a_terminal_write_nothing(
    at_vault: OpenBao, seeded: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = iter([NEW, NEW + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(entries))
    result = rotate("timescale_password", "--yes", stdin=Terminal())
    assert result == Result(
        1,
        "",
        "nova-config: timescale_password not rotated: the two entries differ; "
        "nothing was written\n",
    )
    assert kv2(at_vault, seeded)[1] == 1


class Invalid(NamedTuple):
    field: str
    candidate: str
    environment: str
    why: str


@pytest.mark.parametrize(
    "case",
    [
        Invalid(
            "discord_webhook_url",
            "https://discord.com/not-a-webhook/CANARY0e5b7c",
            "development",
            "must have the path /api/webhooks/<id>/<token>",
        ),
        Invalid(
            "timescale_password", " CANARY0e5b7c ", "development", "has surrounding whitespace"
        ),
        Invalid(
            "timescale_password", "your-timescale-password-here", "production", "is a placeholder"
        ),
        Invalid("alpaca_api_key", "changeme", "staging", "is a placeholder"),
    ],
    ids=["webhook", "whitespace", "example-in-production", "placeholder-in-staging"],
)
def test_an_invalid_value_is_refused_and_nothing_is_written(
    at_vault: OpenBao, base: str, rotate: Rotate, case: Invalid
) -> None:
    """The model's own checks refuse it; the message says why without quoting it."""
    path = f"{base}/{case.environment}"
    at_vault.write_kv2(path, VAULT_SECRETS)
    result = rotate(case.field, "--env", case.environment, stdin=case.candidate)
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(
        f"nova-config: {case.field} not rotated: the new value of {case.field.upper()} is invalid: "
    )
    assert case.why in result.err
    assert case.candidate.strip() not in result.err
    assert kv2(at_vault, path) == (VAULT_SECRETS, 1)


def test_a_current_value_that_fails_validation_can_be_rotated(
    at_vault: OpenBao, base: str, rotate: Rotate
) -> None:
    """The load fails on the value in the store; the record still says where it is kept."""
    path = f"{base}/development"
    at_vault.write_kv2(path, {**VAULT_SECRETS, "timescale_password": " padded "})
    assert rotate("timescale_password", stdin=NEW).code == 0
    assert kv2(at_vault, path) == ({**VAULT_SECRETS, "timescale_password": NEW}, 2)


def test_a_field_served_from_env_is_a_usage_error(
    at_vault: OpenBao, seeded: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "AKFROMENV0000000")
    result = rotate("ALPACA_API_KEY", stdin=NEW)
    assert result == Result(
        2,
        "",
        "nova-config: ALPACA_API_KEY is served from env (ALPACA_API_KEY) in development, not "
        "from Vault or AWS Secrets Manager; change it where it is kept\n",
    )
    assert kv2(at_vault, seeded)[1] == 1


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("no_such_field", "NovaSettings has no setting 'no_such_field' (its secrets: "),
        ("timescale_port", "TIMESCALE_PORT is not a secret; rotate changes secrets only"),
        ("alpaca_secret_key", "ALPACA_SECRET_KEY is not set in development; rotate replaces"),
    ],
)
def test_unknown_non_secret_or_unset_field_is_a_usage_error(
    seeded: str, rotate: Rotate, field: str, message: str
) -> None:
    result = rotate(field, stdin=NEW)
    assert result.code == 2
    assert result.err.startswith(f"nova-config: {message}")


def test_a_token_that_may_not_patch_is_refused_naming_the_capability(
    at_vault: OpenBao, seeded: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """read, create and update, but not patch: KV v2's PATCH needs `patch` itself."""
    monkeypatch.setenv("NOVA_VAULT_PATH", seeded)  # the one path the token may read
    policy = at_vault.policy(
        f"no-patch-{uuid.uuid4().hex[:8]}", [f"secret/data/{seeded}"], ["read", "create", "update"]
    )
    monkeypatch.setenv("VAULT_TOKEN", at_vault.token([policy]))
    result = rotate("timescale_password", stdin=NEW)
    assert result == Result(
        1,
        "",
        f"nova-config: timescale_password not rotated: vault at {at_vault.addr}: permission "
        "denied: the token in VAULT_TOKEN may not patch "
        f"secret/data/{seeded}: its policies need `patch` there\n",
    )
    assert kv2(at_vault, seeded)[1] == 1


def test_a_token_with_patch_rotates(
    at_vault: OpenBao, seeded: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The least privilege the docs give: `read` and `patch` on the data path."""
    monkeypatch.setenv("NOVA_VAULT_PATH", seeded)
    policy = at_vault.policy(
        f"patch-{uuid.uuid4().hex[:8]}", [f"secret/data/{seeded}"], ["read", "patch"]
    )
    monkeypatch.setenv("VAULT_TOKEN", at_vault.token([policy]))
    assert rotate("timescale_password", stdin=NEW).code == 0
    assert kv2(at_vault, seeded)[1] == 2


def test_kv1_token_that_may_not_update_is_refused_naming_the_capability(
    at_vault: OpenBao, base: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_VAULT_MOUNT", KV1_MOUNT)
    monkeypatch.setenv("NOVA_VAULT_KV_VERSION", "1")
    monkeypatch.setenv("NOVA_VAULT_PATH", base)
    at_vault.write_kv1(base, VAULT_SECRETS)
    policy = at_vault.policy(f"kv1-read-{uuid.uuid4().hex[:8]}", [f"{KV1_MOUNT}/{base}"])
    monkeypatch.setenv("VAULT_TOKEN", at_vault.token([policy]))
    result = rotate("timescale_password", stdin=NEW)
    assert result.code == 1
    assert result.err.endswith(
        f"may not write {KV1_MOUNT}/{base}: its policies need `update` (or `create`) there\n"
    )
    assert kv1(at_vault, base) == VAULT_SECRETS


def test_vault_unreachable_when_loading_names_the_store(
    rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Development falls back; rotate cannot tell where the field is kept and says why."""
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("VAULT_TOKEN", "s.not-used")
    monkeypatch.setenv("NOVA_VAULT_RETRIES", "0")
    for name, value in VALID_FIELDS.items():
        monkeypatch.setenv(name.upper(), value)
    result = rotate("timescale_password", stdin=NEW)
    assert result.code == 1
    assert result.err.startswith(
        "nova-config: timescale_password not rotated: vault at http://127.0.0.1:9: unreachable"
    )
    assert result.err.endswith("so where TIMESCALE_PASSWORD is kept in development is unknown\n")


def test_vault_unreachable_when_writing_names_the_store(
    at_vault: OpenBao, seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = locate(NovaSettings, "timescale_password")
    validate(target, NEW)
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("NOVA_VAULT_RETRIES", "0")
    with pytest.raises(
        StoreUnavailableError, match=r"^not rotated: vault at http://127\.0\.0\.1:9: unr"
    ):
        write(target, NEW)
    assert kv2(at_vault, seeded)[1] == 1


def test_vault_unreachable_in_production_shows_only_the_store(
    rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load fails; the fields Vault would have served are missing because of it: not listed."""
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("VAULT_TOKEN", "s.not-used")
    monkeypatch.setenv("NOVA_VAULT_RETRIES", "0")
    result = rotate("timescale_password", "--env", "production", stdin=NEW)
    assert result.code == 1
    assert result.err.startswith(
        "nova-config: timescale_password not rotated: vault at http://127.0.0.1:9: unreachable "
    )
    assert result.err.endswith("(the default in production is to fail)\n")
    assert result.err.count("\n") == 1
    assert "NOVA_ENV" not in os.environ  # --env is the command's only


def test_approle_login_is_the_loads_own_and_is_named_when_denied(
    at_vault: OpenBao, seeded: str, base: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write reuses the login the load made (one login in all) and names its credential."""
    log_in_with_approle(at_vault, base, monkeypatch)  # read only
    mark = at_vault.audit_mark()
    result = rotate("timescale_password", stdin=NEW)
    assert result.err == (
        f"nova-config: timescale_password not rotated: vault at {at_vault.addr}: permission "
        f"denied: AppRole login at auth/approle may not patch secret/data/{seeded}: its "
        "policies need `patch` there\n"
    )
    assert len(at_vault.requests_since(mark, "auth/approle/login")) == 1
    assert kv2(at_vault, seeded)[1] == 1


# --- --generate and standard input ---------------------------------------------------------------


@pytest.mark.parametrize("case", [(("--generate",), 32), (("--generate=48",), 48)])
def test_generated_value_is_stored_urlsafe_and_never_printed(
    at_vault: OpenBao,
    seeded: str,
    rotate: Rotate,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[tuple[str, ...], int],
) -> None:
    """Not in stdout, stderr or the audit log; standard input is not read."""
    argv, length = case
    monkeypatch.setenv("NOVA_AUDIT_LOG", "audit.jsonl")
    result = rotate("timescale_password", *argv, "--json", stdin="ignored\n")
    assert result.code == 0
    value = kv2(at_vault, seeded)[0]["timescale_password"]
    assert len(value) == length
    assert set(value) <= URLSAFE
    shown = result.out + result.err + Path("audit.jsonl").read_text()
    assert "secret_rotated" in shown
    assert value[:8] not in shown


@pytest.mark.parametrize("length", ["8", "15", "4097", "abc", "-1"])
def test_a_bad_generate_length_is_a_usage_error(
    rotate: Rotate, capsys: pytest.CaptureFixture[str], length: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        rotate("timescale_password", f"--generate={length}")
    assert caught.value.code == 2
    assert f"{length!r} is not a length from 16 to 4096" in capsys.readouterr().err


@pytest.mark.parametrize(
    "stdin",
    [NEW, NEW + "\n", NEW + "\r\n", NEW + "\nsecond line\n"],
    ids=["bare", "lf", "crlf", "two"],
)
def test_standard_input_is_one_line_without_its_newline(
    at_vault: OpenBao, seeded: str, rotate: Rotate, stdin: str
) -> None:
    assert rotate("timescale_password", stdin=stdin).code == 0
    assert kv2(at_vault, seeded)[0]["timescale_password"] == NEW


def test_an_empty_standard_input_is_an_invalid_value(
    at_vault: OpenBao, seeded: str, rotate: Rotate
) -> None:
    result = rotate("timescale_password", stdin="")
    assert (result.code, result.err) == (
        1,
        "nova-config: timescale_password not rotated: the new value of TIMESCALE_PASSWORD is "
        "invalid: is empty\n",
    )
    assert kv2(at_vault, seeded)[1] == 1


# --- AWS ---------------------------------------------------------------------------------------


class Aws:
    """The session's moto server as one test sees it: an admin client, boto3 pointed at it."""

    def __init__(self, server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.client = server.secrets()
        self.monkeypatch = monkeypatch
        self.name = f"nova-rotate/{uuid.uuid4().hex[:12]}"
        self.client.create_secret(
            Name=self.name, SecretString=json.dumps({**VALID_FIELDS, **OTHER})
        )
        monkeypatch.setenv("NOVA_AWS_SECRET_ID", self.name)

    def data(self) -> dict[str, Any]:
        current = self.client.get_secret_value(SecretId=self.name)
        loaded: dict[str, Any] = json.loads(current["SecretString"])
        return loaded

    def stages(self) -> dict[str, list[str]]:
        return self.client.describe_secret(SecretId=self.name)["VersionIdsToStages"]

    def current(self) -> str:
        return self.client.get_secret_value(SecretId=self.name)["VersionId"]


@pytest.fixture
def secret(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """A new JSON secret on moto, NOVA_AWS_SECRET_ID naming it, boto3 set up by AWS_* variables."""
    for name, value in boto_environ(moto_server.url).items():
        monkeypatch.setenv(name, value)
    yield Aws(moto_server, monkeypatch)
    aws.close_clients()


def use_reader_that_may_not_put(secret: Aws) -> str:
    """Switch to a new IAM user that may read the secret and is denied PutSecretValue.

    Returns:
        The user's secret access key, which no output may show.
    """
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Deny", "Action": "secretsmanager:PutSecretValue", "Resource": "*"},
        ],
    }
    key = secret.server.user_with(policy, "nova-rotate")
    secret.monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    secret.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return str(key["SecretAccessKey"])


def test_aws_puts_one_version_with_the_other_keys_and_moves_the_stages(
    secret: Aws, moto_forwarder: Forwarder, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_forwarder.url)
    old = secret.current()
    result = rotate("timescale_password", "--json", stdin=NEW)
    assert result.code == 0
    shown = json.loads(result.out)
    new = shown["new_version"]
    assert shown == {
        "field": "timescale_password",
        "variable": "TIMESCALE_PASSWORD",
        "store": "aws",
        "location": f"{secret.name}#timescale_password",
        "old_version": old,
        "new_version": new,
    }
    assert secret.data() == {**VALID_FIELDS, **OTHER, "timescale_password": NEW}
    stages = secret.stages()
    assert stages[new] == ["AWSCURRENT"]
    assert stages[old] == ["AWSPREVIOUS"]
    puts = [op for op, _ in moto_forwarder.requests if op == "PutSecretValue"]
    assert puts == ["PutSecretValue"]


def test_aws_text_output(secret: Aws, rotate: Rotate) -> None:
    old = secret.current()
    result = rotate("TIMESCALE_PASSWORD", stdin=NEW)
    new = secret.current()
    assert new != old
    assert result == Result(
        0,
        f"rotated TIMESCALE_PASSWORD in {secret.name}#timescale_password: version {old} -> {new}\n",
        "",
    )


def test_aws_version_written_after_the_read_is_a_conflict(secret: Aws) -> None:
    target = locate(NovaSettings, "timescale_password")
    secret.client.put_secret_value(
        SecretId=secret.name, SecretString=json.dumps({**VALID_FIELDS, "timescale_password": "x1"})
    )
    meanwhile = secret.current()
    with pytest.raises(RotationConflictError, match="changed since it was read"):
        write(target, NEW)
    assert secret.current() == meanwhile
    assert secret.data()["timescale_password"] == "x1"


def test_aws_user_that_may_not_put_is_refused_naming_the_iam_action(
    secret: Aws, rotate: Rotate
) -> None:
    """moto enforcing IAM: GetSecretValue allowed, PutSecretValue denied."""
    access_key = use_reader_that_may_not_put(secret)
    old = secret.current()
    with secret.server.enforcing_iam():
        result = rotate("timescale_password", stdin=NEW)
    assert result.code == 1
    assert result.err == (
        f"nova-config: timescale_password not rotated: AWS Secrets Manager at "
        f"{secret.server.url}: secret {secret.name}: access denied (403): no "
        "secretsmanager:PutSecretValue on it, or kms:GenerateDataKey on its key\n"
    )
    assert access_key not in result.err
    assert secret.current() == old


def test_aws_invalid_value_writes_nothing(secret: Aws, rotate: Rotate) -> None:
    old = secret.current()
    result = rotate("discord_webhook_url", stdin="http://discord.com/api/webhooks/1/CANARY0e5b7c")
    assert result.code == 1
    assert "must be an https:// URL" in result.err
    assert "CANARY0e5b7c" not in result.err
    assert secret.current() == old


def test_aws_stage_other_than_awscurrent_is_a_usage_error(
    secret: Aws, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret.client.put_secret_value(
        SecretId=secret.name, SecretString=json.dumps(VALID_FIELDS), VersionStages=["AWSPENDING"]
    )
    monkeypatch.setenv("NOVA_AWS_VERSION_STAGE", "AWSPENDING")
    old = secret.current()
    result = rotate("timescale_password", stdin=NEW)
    assert result.code == 2
    assert result.err.startswith("nova-config: NOVA_AWS_VERSION_STAGE is AWSPENDING: ")
    assert secret.current() == old


def test_aws_unreachable_when_writing_names_the_store(
    secret: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = locate(NovaSettings, "timescale_password")
    old = secret.current()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("NOVA_AWS_TIMEOUT", "0.5")
    with pytest.raises(StoreUnavailableError) as caught:
        write(target, NEW)
    assert str(caught.value) == (
        f"not rotated: AWS Secrets Manager at http://127.0.0.1:9: secret {secret.name}: "
        "unreachable: no connection could be made"
    )
    assert secret.current() == old


# Fault injection at the HTTP layer: moto answers at once; the forwarder holds the call.
SLOW_TIMEOUT, SHORT_DEADLINE = "20", 0.5


@pytest.mark.parametrize(
    ("held", "tail"),
    [
        ("GetSecretValue", " (NOVA_AWS_DEADLINE)"),
        ("PutSecretValue", ": check the secret's versions before running again"),
    ],
)
def test_an_aws_rotation_that_gets_no_answer_ends_at_the_deadline(
    secret: Aws,
    moto_forwarder: Forwarder,
    monkeypatch: pytest.MonkeyPatch,
    held: str,
    tail: str,
) -> None:
    """Each attempt may wait 20 s (NOVA_AWS_TIMEOUT); NOVA_AWS_DEADLINE still ends the rotation
    at 0.5 s, whether its read or its write is held. A write given up on may still land: the
    error says so, with the version id it would have."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_forwarder.url)
    target = locate(NovaSettings, "timescale_password")
    monkeypatch.setenv("NOVA_AWS_TIMEOUT", SLOW_TIMEOUT)
    monkeypatch.setenv("NOVA_AWS_DEADLINE", str(SHORT_DEADLINE))
    aws.close_clients()  # a client with the slow timeout
    moto_forwarder.hang(held)
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            write(target, NEW)
        took = time.monotonic() - started
    finally:
        moto_forwarder.release()
    assert took < SHORT_DEADLINE + 5.0  # a bound that proves the deadline, not a timing
    message = str(caught.value)
    assert message.startswith(f"not rotated: AWS Secrets Manager at {moto_forwarder.url}: ")
    assert f"unreachable: no answer within {SHORT_DEADLINE:g} s (NOVA_AWS_DEADLINE)" in message
    assert message.endswith(tail)
    assert NEW not in message


# --- audit ----------------------------------------------------------------------------------


def test_rotation_is_audited_as_secret_rotated_in_the_chained_log(
    at_vault: OpenBao, seeded: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(log))
    assert rotate("timescale_password", stdin=NEW).code == 0
    events = [json.loads(line) for _, line in lines_of(log.read_bytes())]
    last = events[-1]
    assert list(last) == [
        "time",
        "settings",
        "environment",
        "host",
        "pid",
        "load_id",
        "event",
        "field",
        "variable",
        "store",
        "location",
        "old_version",
        "new_version",
        "prev",
    ]
    assert set(COMMON_KEYS) <= set(last)
    assert {k: last[k] for k in ("event", "settings", "environment", "store", "location")} == {
        "event": "secret_rotated",
        "settings": "nova_config.settings:NovaSettings",
        "environment": "development",
        "store": "vault",
        "location": f"secret/{seeded}#timescale_password",
    }
    assert (last["old_version"], last["new_version"]) == ("1", "2")
    assert verify(str(log)).broken is None
    assert NEW not in log.read_text()


def test_an_audit_log_that_cannot_be_written_refuses_before_writing(
    at_vault: OpenBao, seeded: str, rotate: Rotate, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(tmp_path))  # a folder
    result = rotate("timescale_password", stdin=NEW)
    assert result.code == 1
    assert f"the audit log {tmp_path} (NOVA_AUDIT_LOG) cannot be written" in result.err
    assert kv2(at_vault, seeded)[1] == 1


_CANARY = st.text(alphabet=string.ascii_letters + string.digits, min_size=10, max_size=30).map(
    lambda text: "cnry" + text
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.tuples(_CANARY, _CANARY))
def test_old_and_new_values_never_reach_output_log_or_audit(
    at_vault: OpenBao,
    rotate: Rotate,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    values: tuple[str, str],
) -> None:
    """Canaries as the old and the new value: not in stdout, stderr, the log or the audit file,
    neither for a rotation done nor for one refused."""
    old, new = values
    path = f"t-{uuid.uuid4().hex[:12]}"  # one per example
    monkeypatch.setenv("NOVA_VAULT_PATH", path)
    at_vault.write_kv2(path, {**VAULT_SECRETS, "timescale_password": old})
    log = Path.cwd() / f"{path}.jsonl"
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(log))
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        result = rotate("timescale_password", "--json", stdin=new)
        failed = rotate("timescale_password", stdin=new + " ")  # invalid: whitespace
    assert (result.code, failed.code) == (0, 1)
    assert kv2(at_vault, path)[0]["timescale_password"] == new
    audit_text = log.read_text()
    records = "\n".join(r.getMessage() for r in caplog.records)
    assert "secret_rotated" in audit_text
    assert "secret_rotated" in records  # the audit logger got the event too
    for surface in (result.out, result.err, failed.out, failed.err, audit_text, records):
        assert old not in surface
        assert new not in surface
    assert VAULT_CANARY_PASSWORD not in audit_text


# --- frame locals ---------------------------------------------------------------------------------


def assert_nowhere(error: BaseException, *values: str) -> None:
    """No value shows in the error's chain or in the repr of any local of any of its frames
    (what an error tracker records), and the check has something to look at."""
    # From the call down: the test's own frame holds the values it passes.
    assert error.__traceback__ is not None
    error = error.with_traceback(error.__traceback__.tb_next)
    surfaces = {**chain_surfaces(error), **locals_surfaces(error)}
    assert any("candidate" in place for place in surfaces)  # the frames that held it
    for place, text in surfaces.items():
        for value in values:
            assert value not in text, f"a value shows in {place}"


def test_a_failed_vault_write_keeps_values_and_token_out_of_frame_locals(
    at_vault: OpenBao, seeded: str
) -> None:
    target = locate(NovaSettings, "timescale_password")
    at_vault.write_kv2(seeded, {**VAULT_SECRETS, "unrelated_key": "cnryMeanwhile0a9"})
    secrets = ("cnryCandidate5e2f", "cnryMeanwhile0a9", at_vault.root_token, *VAULT_CANARIES)
    with pytest.raises(RotationConflictError) as caught:
        write(target, "cnryCandidate5e2f")
    assert_nowhere(caught.value, *secrets)
    # The store's own error, with every frame below `write` (which raises a copy of it).
    with pytest.raises(RotationConflictError) as deep:
        write_vault(target.origin, "cnryCandidate5e2f", target.environment)
    assert_nowhere(deep.value, *secrets)


def test_a_refused_aws_write_keeps_values_out_of_frame_locals(secret: Aws) -> None:
    """PutSecretValue denied: the frames hold the secret read, merged and encoded."""
    secret.client.put_secret_value(
        SecretId=secret.name,
        SecretString=json.dumps({**VALID_FIELDS, "alpaca_api_key": "cnryOldAwsValue71"}),
    )
    access_key = use_reader_that_may_not_put(secret)
    with secret.server.enforcing_iam():
        target = locate(NovaSettings, "timescale_password")
        with pytest.raises(StoreAccessError) as caught:
            write(target, "cnryCandidate5e2f")
        # The store's own error, with every frame below `write` (which raises a copy of it).
        with pytest.raises(StoreAccessError) as deep:
            write_aws(target.origin, "cnryCandidate5e2f", target.environment)
    for error in (caught.value, deep.value):
        assert_nowhere(error, "cnryCandidate5e2f", "cnryOldAwsValue71", access_key)


def test_the_installed_script_refuses_a_field_served_from_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through `nova-config rotate` as users run it: exit 2, the place named, nothing read."""
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    script = Path(sys.executable).with_name("nova-config")
    done = subprocess.run(
        [str(script), "rotate", "timescale_password", "--generate"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "TIMESCALE_PASSWORD" in done.stderr + done.stdout
    assert VALID["TIMESCALE_PASSWORD"] not in done.stderr + done.stdout
