"""AWS Secrets Manager, against a real moto server: keys, priority, stages, failures, policy."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nova_config import NovaSettings, SettingsError
from nova_config.errors import (
    MissingExtraError,
    Problem,
    SourceConfigError,
    SourceError,
    StoreAccessError,
    StoreDataError,
    StoreUnavailableError,
)
from nova_config.sources import aws
from nova_config.sources.aws import AwsSource
from nova_config.sources.base import LoadContext, SourceResult
from tests.support.data import VALID, WEBHOOK
from tests.support.helpers import write
from tests.support.moto import (
    FAKE_KEY_ID,
    FAKE_SECRET_KEY,
    Forwarder,
    MotoServer,
    boto_environ,
)

CANARY = "CANARY5d1f0e7a9c3b2a"  # alphanumeric, so no escaping can hide it from a search
INJECTED = "injected-aws-message"  # the Message of the forwarder's fault answers


class Secrets:
    """The session's moto server as one test sees it: unique names, and boto3 pointed at it."""

    def __init__(self, server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.client = server.secrets()
        self.monkeypatch = monkeypatch

    def create(self, data: dict[str, Any] | str | bytes, name: str | None = None) -> str:
        """A new secret holding `data` (a dict is stored as JSON); returns its name."""
        name = name or f"nova-test/{uuid.uuid4().hex[:12]}"
        if isinstance(data, bytes):
            self.client.create_secret(Name=name, SecretBinary=data)
        else:
            text = data if isinstance(data, str) else json.dumps(data)
            self.client.create_secret(Name=name, SecretString=text)
        return name

    def version(self, name: str, stage: str = "AWSCURRENT") -> str:
        """The VersionId that carries `stage`."""
        return self.client.get_secret_value(SecretId=name, VersionStage=stage)["VersionId"]

    def use(self, *ids: str) -> None:
        """Point NOVA_AWS_SECRET_ID at these secrets, highest priority first."""
        self.monkeypatch.setenv("NOVA_AWS_SECRET_ID", ",".join(ids))

    def through(self, forwarder: Forwarder) -> None:
        """Send the source's requests through the counting forwarder."""
        self.monkeypatch.setenv("AWS_ENDPOINT_URL", forwarder.url)


@pytest.fixture
def secrets(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Secrets]:
    """boto3 configured through AWS_* variables for moto, with fake credentials."""
    for name, value in boto_environ(moto_server.url).items():
        monkeypatch.setenv(name, value)
    yield Secrets(moto_server, monkeypatch)
    aws.close_clients()  # their pooled sockets, before the server or forwarder goes


def read(environment: str = "production") -> SourceResult:
    """Run the aws source alone, as one load would, and return what it found."""
    context = LoadContext(environment, os.environ, NovaSettings.__nova_plans__)
    return AwsSource(context).load()


def store_error(expected: type[SourceError]) -> SourceError:
    """The error the aws source raises alone; checks that it carries nothing of the SDK's."""
    with pytest.raises(expected) as excinfo:
        read()
    error = excinfo.value
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert error.problems == (Problem(None, str(error).removeprefix(error.title + ": "), "source"),)
    assert INJECTED not in str(error)
    return error


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- reading --------------------------------------------------------------------------------


def test_settings_load_from_a_secret_with_keys_in_any_case_and_an_alias(secrets: Secrets) -> None:
    """ALPACA_API_KEY, discord-webhook-url and the alias db_password all match their fields."""
    name = secrets.create(
        {
            "ALPACA_API_KEY": "AKFROMAWS0001",
            "discord-webhook-url": WEBHOOK,
            "db_password": "pw-from-aws",
            "unrelated": {"ignored": True},
        }
    )
    secrets.use(name)
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKFROMAWS0001"
    assert settings.discord_webhook_url.get_secret_value() == WEBHOOK
    assert settings.timescale_password.get_secret_value() == "pw-from-aws"
    assert settings.resolution.sources == ("env", "files", "aws", "dotenv")


def test_source_of_names_the_secret_the_key_and_the_version_id(secrets: Secrets) -> None:
    """Provenance is `aws`, `<secret id>#<key>`, and the VersionId of the value read."""
    name = secrets.create({k.lower(): v for k, v in VALID.items()})
    secrets.use(name)
    origin = NovaSettings().source_of("alpaca_api_key")
    assert origin.source == "aws"
    assert origin.location == f"{name}#alpaca_api_key"
    assert origin.version == secrets.version(name)


def test_first_listed_secret_wins_and_later_ones_fill_the_gaps(secrets: Secrets) -> None:
    """NOVA_AWS_SECRET_ID is a priority list: per key, the first secret that has it wins."""
    first = secrets.create({"ALPACA_API_KEY": "AKFIRST0001"})
    second = secrets.create(VALID)
    secrets.use(first, second)
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKFIRST0001"
    assert settings.source_of("alpaca_api_key").location == f"{first}#ALPACA_API_KEY"
    assert settings.source_of("timescale_password").location == f"{second}#TIMESCALE_PASSWORD"


def test_environment_placeholder_selects_the_secret_of_the_environment(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`{environment}` in NOVA_AWS_SECRET_ID becomes the load's environment (NOVA_ENV)."""
    base = f"nova-test/{uuid.uuid4().hex[:12]}"
    secrets.create(VALID | {"ALPACA_API_KEY": "AKSTAGING01"}, name=f"{base}/staging")
    secrets.create(VALID | {"ALPACA_API_KEY": "AKPRODUCTION"}, name=f"{base}/production")
    secrets.use(base + "/{environment}")
    monkeypatch.setenv("NOVA_ENV", "staging")
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKSTAGING01"
    assert settings.source_of("alpaca_api_key").location == f"{base}/staging#ALPACA_API_KEY"


def test_awscurrent_is_read_and_the_version_stage_variable_selects_another(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new AWSPENDING version is ignored until NOVA_AWS_VERSION_STAGE=AWSPENDING selects it."""
    name = secrets.create(VALID)
    current = secrets.version(name)
    secrets.client.put_secret_value(
        SecretId=name,
        SecretString=json.dumps(VALID | {"ALPACA_API_KEY": "AKROTATED01"}),
        VersionStages=["AWSPENDING"],
    )
    secrets.use(name)
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == VALID["ALPACA_API_KEY"]
    assert settings.source_of("alpaca_api_key").version == current
    monkeypatch.setenv("NOVA_AWS_VERSION_STAGE", "AWSPENDING")
    pending = NovaSettings()
    assert pending.alpaca_api_key.get_secret_value() == "AKROTATED01"
    assert pending.source_of("alpaca_api_key").version == secrets.version(name, "AWSPENDING")
    assert pending.source_of("alpaca_api_key").version != current


def test_secret_binary_holding_utf8_json_is_read(secrets: Secrets) -> None:
    """A SecretBinary secret is decoded as UTF-8 JSON, like a SecretString."""
    secrets.use(secrets.create(json.dumps(VALID | {"ALPACA_API_KEY": "AKBINARY01"}).encode()))
    assert NovaSettings().alpaca_api_key.get_secret_value() == "AKBINARY01"


def test_json_numbers_and_booleans_are_read_as_their_json_text(secrets: Secrets) -> None:
    """5432 is the text `5432`, 1.50 stays `1.50`, true is `true`; strings are as stored."""
    secrets.use(
        secrets.create(
            '{"TIMESCALE_PORT": 6543, "timescale_host": true, "timescale_db": 1.50, '
            f'"discord_webhook_url": "{WEBHOOK}", "ALPACA_API_KEY": " AK spaced "}}'
        )
    )
    result = read("development")
    assert result.found["timescale_port"].value == "6543"
    assert result.found["timescale_host"].value == "true"
    assert result.found["timescale_db"].value == "1.50"
    assert result.found["alpaca_api_key"].value == " AK spaced "
    assert result.problems == []


@pytest.mark.parametrize("value", [None, {"nested": CANARY}, [CANARY]], ids=["null", "obj", "arr"])
def test_key_without_a_text_value_is_a_problem_naming_the_key(secrets: Secrets, value: Any) -> None:
    """null, an object or an array is no setting: a problem names secret and key, not the value."""
    name = secrets.create(VALID | {"ALPACA_SECRET_KEY": value})
    secrets.use(name)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert excinfo.value.problems == (
        Problem(
            "ALPACA_SECRET_KEY",
            f"{name}#ALPACA_SECRET_KEY holds no text value (null, object or array); "
            "store ALPACA_SECRET_KEY as text",
            "source",
        ),
    )
    assert CANARY not in str(excinfo.value)


def test_two_keys_for_one_setting_in_one_secret_is_a_problem(secrets: Secrets) -> None:
    """`db_password` and `TIMESCALE_PASSWORD` side by side are ambiguous, so both are named."""
    name = secrets.create(VALID | {"db_password": "other-pw"})
    secrets.use(name)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert [p.message for p in excinfo.value.problems] == [
        f"secret {name} holds keys TIMESCALE_PASSWORD and db_password for TIMESCALE_PASSWORD; "
        "keep one"
    ]


def test_secret_that_does_not_exist_is_no_error_while_env_has_the_values(
    secrets: Secrets, valid_env: dict[str, str]
) -> None:
    """A missing secret id is not an error by itself: the load goes on with the other sources."""
    secrets.use(f"nova-test/absent-{uuid.uuid4().hex[:12]}")
    assert NovaSettings().source_of("alpaca_api_key").source == "env"


def test_missing_setting_message_lists_the_keys_and_secrets_looked_in(secrets: Secrets) -> None:
    """The missing-setting message names the keys tried and marks the secret that is absent."""
    absent = f"nova-test/absent-{uuid.uuid4().hex[:12]}"
    present = secrets.create({"DISCORD_WEBHOOK_URL": WEBHOOK})
    secrets.use(absent, present)
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    (password,) = [p for p in excinfo.value.problems if p.variable == "TIMESCALE_PASSWORD"]
    assert (
        f"\n  aws: key timescale_password or db_password (any case, - or _) in secrets "
        f"{absent} (not found), {present}\n" in password.message
    )
    assert {p.variable for p in excinfo.value.problems} == {"TIMESCALE_PASSWORD", "ALPACA_API_KEY"}


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        (f"ALPACA_API_KEY={CANARY}", "it is not valid JSON"),
        (json.dumps([CANARY]), "it is JSON but not an object"),
        (json.dumps(CANARY), "it is JSON but not an object"),
        (b"\xff\xfe" + CANARY.encode(), "its SecretBinary is not UTF-8 text"),
    ],
    ids=["not-json", "json-array", "json-string", "binary-not-utf8"],
)
def test_secret_that_is_not_a_json_object_is_a_data_error_naming_it(
    secrets: Secrets, stored: str | bytes, why: str
) -> None:
    """Not JSON, JSON that is no object, or binary that is no UTF-8: StoreDataError, no value."""
    name = secrets.create(stored)
    secrets.use(name)
    error = store_error(StoreDataError)
    assert str(error) == (
        f"settings could not be loaded: AWS Secrets Manager at {secrets.server.url}: "
        f"secret {name}: {why}; store the settings as a JSON object"
    )
    assert CANARY not in str(error)


def test_iam_policy_that_denies_the_secret_is_an_access_error(secrets: Secrets) -> None:
    """moto enforcing IAM: a user whose policy denies GetSecretValue gets StoreAccessError."""
    name = secrets.create(VALID)
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
        ],
    }
    key = secrets.server.user_with(deny, "nova-denied")
    secrets.monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    secrets.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    secrets.use(name)
    with secrets.server.enforcing_iam():
        error = store_error(StoreAccessError)
    # moto answers IAM refusals in the XML of the query APIs, so botocore sees only HTTP 403;
    # AWS itself answers AccessDeniedException (the injected-fault test covers that code).
    assert str(error).endswith(f"secret {name}: access denied (403)")
    assert key["SecretAccessKey"] not in str(error)
    assert key["AccessKeyId"] not in str(error)


def test_unknown_access_key_is_an_access_error(secrets: Secrets) -> None:
    """moto enforcing IAM: a key id it never issued is refused, as StoreAccessError."""
    secrets.use(secrets.create(VALID))
    with secrets.server.enforcing_iam():
        error = store_error(StoreAccessError)
    assert "access denied" in str(error)
    assert FAKE_SECRET_KEY not in str(error)
    assert FAKE_KEY_ID not in str(error)


# Fault injection: moto never throttles, has no KMS to fail, and answers IAM refusals without
# AWS's JSON codes, so the forwarder answers GetSecretValue itself with the JSON error bodies
# the real service sends. Everything else about the call (boto3, botocore's parser and
# retries, the source) is real; only the server's answer is made up.
# code -> (HTTP status AWS answers it with, the project error, a piece of its wording)
FAULTS: dict[str, tuple[int, type[SourceError], str]] = {
    "AccessDeniedException": (400, StoreAccessError, "access denied (AccessDeniedException)"),
    "UnrecognizedClientException": (400, StoreAccessError, "unknown key id"),
    "InvalidSignatureException": (400, StoreAccessError, "wrong secret key"),
    "ExpiredTokenException": (400, StoreAccessError, "the token has expired"),
    "DecryptionFailure": (400, StoreDataError, "its KMS key cannot decrypt it"),
    "ThrottlingException": (400, StoreUnavailableError, "throttled (ThrottlingException)"),
    "InternalServiceError": (500, StoreUnavailableError, "the service failed"),
    "InvalidRequestException": (400, StoreDataError, "refused (InvalidRequestException)"),
    "SomethingNewException": (503, StoreUnavailableError, "failed (SomethingNewException)"),
}


@pytest.mark.parametrize("code", FAULTS)
def test_aws_error_codes_map_to_the_project_errors(
    secrets: Secrets, moto_forwarder: Forwarder, code: str
) -> None:
    """Each AWS error code becomes one project error naming store, secret and cause by code."""
    status, expected, wording = FAULTS[code]
    name = secrets.create(VALID)
    secrets.use(name)
    secrets.through(moto_forwarder)
    moto_forwarder.fail_with(code, status)
    error = store_error(expected)
    assert str(error).startswith(
        f"settings could not be loaded: AWS Secrets Manager at {moto_forwarder.url}: "
        f"secret {name}: "
    )
    assert wording in str(error)


def test_throttled_call_is_tried_exactly_twice_then_reported(
    secrets: Secrets, moto_forwarder: Forwarder
) -> None:
    """Retries are bounded: one retry (standard mode), then StoreUnavailableError `throttled`."""
    name = secrets.create(VALID)
    secrets.use(name)
    secrets.through(moto_forwarder)
    moto_forwarder.fail_with("ThrottlingException")
    assert "throttled" in str(store_error(StoreUnavailableError))
    assert moto_forwarder.gets() == [name, name]


@pytest.mark.parametrize(
    "variables",
    [{}, {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID}],
    ids=["none", "partial"],
)
def test_no_credentials_is_an_access_error(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    """Without credentials (or with half a key pair) boto3's chain finds none: StoreAccessError."""
    secrets.use(secrets.create(VALID))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    assert "no AWS credentials found" in str(store_error(StoreAccessError))


def test_no_region_is_a_configuration_error_even_in_development(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """boto3 finds no region: SourceConfigError, which no failure policy excuses."""
    secrets.use(secrets.create(VALID))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(SourceConfigError) as excinfo:
        NovaSettings()
    assert str(excinfo.value).endswith("no region: set AWS_REGION")


def test_unreachable_endpoint_is_an_unavailable_error(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listening at the endpoint: StoreUnavailableError naming the endpoint."""
    secrets.use("nova-test/anything")
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("NOVA_AWS_TIMEOUT", "0.5")
    error = store_error(StoreUnavailableError)
    assert str(error).endswith(
        f"AWS Secrets Manager at {url}: secret nova-test/anything: "
        "unreachable: no connection could be made"
    )


def test_endpoint_that_never_answers_times_out_after_two_attempts(
    secrets: Secrets, moto_forwarder: Forwarder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A silent endpoint: each attempt gives up after NOVA_AWS_TIMEOUT, and there are two."""
    name = secrets.create(VALID)
    secrets.use(name)
    secrets.through(moto_forwarder)
    monkeypatch.setenv("NOVA_AWS_TIMEOUT", "0.2")
    moto_forwarder.hang()
    error = store_error(StoreUnavailableError)
    assert str(error).endswith(
        f"secret {name}: unreachable: no answer within 0.2 s (NOVA_AWS_TIMEOUT)"
    )
    assert moto_forwarder.gets() == [name, name]


def test_deadline_bounds_the_whole_aws_step(
    secrets: Secrets, moto_forwarder: Forwarder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NOVA_AWS_DEADLINE ends the wait even when the per-attempt timeout is far longer."""
    first, second = secrets.create(VALID), secrets.create(VALID)
    secrets.use(first, second)
    secrets.through(moto_forwarder)
    monkeypatch.setenv("NOVA_AWS_TIMEOUT", "20")
    monkeypatch.setenv("NOVA_AWS_DEADLINE", "0.3")
    moto_forwarder.hang()
    error = store_error(StoreUnavailableError)
    assert str(error).endswith(
        f"secret {first}, {second}: unreachable: no answer within 0.3 s (NOVA_AWS_DEADLINE)"
    )


# --- the failure policy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "override"),
    [
        ("development", None),
        ("test", None),
        ("staging", None),
        ("production", None),
        ("development", "fail"),
        ("production", "fallback"),
    ],
)
def test_store_failure_follows_the_policy_of_the_environment(
    secrets: Secrets,
    moto_forwarder: Forwarder,
    caplog: pytest.LogCaptureFixture,
    environment: str,
    override: str | None,
) -> None:
    """Development and test warn and go on; staging and production fail; the override wins."""
    name = secrets.create(VALID)
    secrets.use(name)
    secrets.through(moto_forwarder)
    moto_forwarder.fail_with("AccessDeniedException")
    secrets.monkeypatch.setenv("NOVA_ENV", environment)
    if override is not None:
        secrets.monkeypatch.setenv("NOVA_ON_SOURCE_ERROR", override)
    # .env serves below aws, except in production (where .env is off): there env serves.
    write(Path(".env"), "".join(f"{k}={v}\n" for k, v in VALID.items()))
    if environment == "production":
        for variable, value in VALID.items():
            secrets.monkeypatch.setenv(variable, value)
    cause = f"secret {name}: access denied (AccessDeniedException)"
    if override == "fail" or (override is None and environment in {"staging", "production"}):
        with pytest.raises(SettingsError) as excinfo:
            NovaSettings()
        assert cause in str(excinfo.value)
        assert "is to fail)" in str(excinfo.value)
        return
    with caplog.at_level(logging.WARNING, logger="nova_config"):
        settings = NovaSettings()
    assert settings.source_of("alpaca_api_key").source == (
        "env" if environment == "production" else "dotenv"
    )
    assert cause in settings.resolution.failed["aws"]
    (warning,) = [r for r in caplog.records if r.name == "nova_config"]
    assert cause in warning.getMessage()
    assert "going on with the other sources" in warning.getMessage()


# --- calls, clients, configuration ----------------------------------------------------------


def test_one_get_secret_value_per_distinct_secret_for_all_fields(
    secrets: Secrets, moto_forwarder: Forwarder
) -> None:
    """Two secrets (one listed twice), every field: exactly two GetSecretValue calls, no batch."""
    first = secrets.create({"ALPACA_API_KEY": "AKFIRST0001", "TIMESCALE_PORT": 6000})
    second = secrets.create(VALID | {"timescale_host": "db.internal"})
    secrets.use(first, second, first)
    secrets.through(moto_forwarder)
    settings = NovaSettings()
    assert settings.timescale_port == 6000
    assert settings.timescale_host == "db.internal"
    assert sorted(moto_forwarder.gets(), key=str) == sorted([first, second])
    assert [op for op, _ in moto_forwarder.requests] == ["GetSecretValue"] * 2


def test_client_is_reused_and_keyed_by_configuration_without_credentials(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loads share one client; new credentials make a new one; keys hold no credential."""
    secrets.use(secrets.create(VALID))
    aws.close_clients()
    NovaSettings()
    NovaSettings()
    assert len(aws._clients) == 1
    (first,) = aws._clients.values()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    NovaSettings()
    assert len(aws._clients) == 2
    assert first in aws._clients.values()
    assert CANARY not in repr(aws._clients)
    assert FAKE_KEY_ID not in repr(aws._clients)


def test_missing_boto3_is_a_missing_extra_error(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """Without boto3 the load stops (even in development) and names the pip extra."""
    secrets.use("nova-test/anything")
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingExtraError) as excinfo:
        NovaSettings()
    assert excinfo.value.problems[0].message == (
        "the aws source needs boto3: pip install 'nova-config[aws]'"
    )


def test_importing_the_source_does_not_import_boto3() -> None:
    """The module is imported on every load (for skip_reason), so it must not pull in boto3."""
    code = (
        "import sys, nova_config.sources.aws\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_source_is_skipped_without_a_secret_id(valid_env: dict[str, str]) -> None:
    """No NOVA_AWS_SECRET_ID: aws is not consulted, and the record says why."""
    settings = NovaSettings()
    assert settings.resolution.skipped["aws"] == "aws: NOVA_AWS_SECRET_ID is not set"
    assert "aws" not in settings.resolution.sources


def test_aws_named_in_sources_without_a_secret_id_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, valid_env: dict[str, str]
) -> None:
    """NOVA_SOURCES=env,aws asks for the store, so a missing secret id is an error."""
    monkeypatch.setenv("NOVA_SOURCES", "env,aws")
    with pytest.raises(SourceConfigError, match="NOVA_AWS_SECRET_ID names no secret"):
        NovaSettings()


SECONDS = "must be a positive number of seconds"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NOVA_AWS_TIMEOUT", "3s", f"NOVA_AWS_TIMEOUT {SECONDS}"),
        ("NOVA_AWS_TIMEOUT", "0", f"NOVA_AWS_TIMEOUT {SECONDS}"),
        ("NOVA_AWS_TIMEOUT", "nan", f"NOVA_AWS_TIMEOUT {SECONDS}"),
        ("NOVA_AWS_DEADLINE", "-1", f"NOVA_AWS_DEADLINE {SECONDS}"),
        ("NOVA_AWS_DEADLINE", "inf", f"NOVA_AWS_DEADLINE {SECONDS}"),
        ("NOVA_AWS_SECRET_ID", " , ", "NOVA_AWS_SECRET_ID names no secret"),
        (
            "NOVA_AWS_SECRET_ID",
            "nova/{region}",
            "NOVA_AWS_SECRET_ID has an unknown placeholder {region}; "
            "only {environment} is replaced",
        ),
        ("NOVA_AWS_SECRET_ID", "nova/{environment", "NOVA_AWS_SECRET_ID has an unmatched { or }"),
        ("NOVA_AWS_VERSION_STAGE", " ", "NOVA_AWS_VERSION_STAGE is empty"),
    ],
)
def test_invalid_aws_variables_are_configuration_errors_that_quote_no_value(
    monkeypatch: pytest.MonkeyPatch,
    valid_env: dict[str, str],
    variable: str,
    value: str,
    message: str,
) -> None:
    """Bad NOVA_AWS_* values stop the load in any environment; the message is fixed text."""
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", "nova/app")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SourceConfigError) as excinfo:
        NovaSettings()
    assert str(excinfo.value) == f"settings could not be loaded: {message}"


# --- leaks ----------------------------------------------------------------------------------


def test_repr_shows_where_the_source_reads_never_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """repr names the secret ids and endpoint; no key, token or endpoint password shows."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARY + "token")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://admin:{CANARY}@127.0.0.1:4566/?k={CANARY}")
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", "nova/a,nova/b")
    source = AwsSource(LoadContext("development", os.environ, NovaSettings.__nova_plans__))
    assert repr(source) == "AwsSource(secrets manager nova/a, nova/b at http://127.0.0.1:4566/)"


def test_canary_values_never_reach_errors_or_debug_logs(
    secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    """With every logger at DEBUG (botocore's too), read values show in no log or error."""
    good = secrets.create(
        {"ALPACA_API_KEY": f"AK{CANARY}", "DISCORD_WEBHOOK_URL": f"{WEBHOOK[:-6]}{CANARY}"}
    )
    bad = secrets.create(f"not json {CANARY}")
    secrets.use(good)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        try:
            NovaSettings()
        except SettingsError as exc:  # TIMESCALE_PASSWORD is missing
            texts += [str(exc), repr(exc), repr(exc.problems)]
        secrets.use(bad)
        try:
            read()
        except StoreDataError as exc:
            texts += [str(exc), repr(exc)]
    assert len(texts) == 5
    assert any("botocore" in r.name for r in caplog.records)  # DEBUG was on for the SDK
    assert "hidden by nova-config" in caplog.text
    for text in [caplog.text, *texts]:
        assert CANARY not in text


def test_a_forked_child_opens_its_own_client_after_the_parent_loaded(secrets: Secrets) -> None:
    """After fork, the child starts with no cached client or worker thread of the parent's, and
    its own load (a new client, a new connection) reads the same values."""
    name = secrets.create(
        {
            "ALPACA_API_KEY": "AKFORKED0123456789",
            "discord_webhook_url": WEBHOOK,
            "timescale_password": "pw-from-aws",
        }
    )
    secrets.use(name)
    NovaSettings()
    parent_client = next(iter(aws._clients.values()))
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it inherited and what it loaded, then leave at once
        try:
            inherited = len(aws._clients)
            key = NovaSettings().alpaca_api_key.get_secret_value()
            own = next(iter(aws._clients.values())) is not parent_client
            os.write(writer, json.dumps([inherited, key, own]).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        report = json.loads(pipe.read() or "null")
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert report == [0, "AKFORKED0123456789", True]
