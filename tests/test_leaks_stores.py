"""The never-leak guarantee for the stores: canaries in Vault and in credentials never show."""

from __future__ import annotations

import hashlib
import json
import string
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nova_config import NovaSettings
from nova_config.sources import aws, vault_logins
from tests.support.data import VALID
from tests.support.helpers import write
from tests.support.leaks import (
    PREFIX,
    assert_clean,
    debug_logs,
    has_debug_record,
    load,
    log_surfaces,
    outcome_surfaces,
    run_cli,
)
from tests.support.loopback import HOST, free_port
from tests.support.moto import MotoServer, boto_environ
from tests.support.openbao import OpenBao
from tests.support.tokenreview import KubernetesReviewer

# Any text, then 12 hex digits hashed from a drawn UUID: a tail that spells a word of the output
# ("Resolution"), or equals an id moto draws from its own seeded random (a version id), would
# otherwise be found there without having leaked.
TAILS = st.builds(
    lambda text, tag: text + hashlib.sha256(tag.bytes).hexdigest()[:12],
    st.text(string.ascii_letters + string.digits, max_size=12),
    st.uuids(),
)


class Plant:
    """One example's setting: the canary, this example's Vault path, and the process env."""

    def __init__(self, canary: str, mp: pytest.MonkeyPatch, openbao: OpenBao, home: Path) -> None:
        self.canary = canary
        self.mp = mp
        self.openbao = openbao
        self.home = home
        self.path = f"leak-{uuid.uuid4().hex[:10]}"
        mp.setenv("HOME", str(home))
        mp.setenv("VAULT_ADDR", openbao.addr)
        mp.setenv("VAULT_TOKEN", openbao.root_token)
        mp.setenv("NOVA_VAULT_PATH", self.path)

    def secrets(self, **overrides: object) -> dict[str, object]:
        """The three secrets, each carrying the canary."""
        values: dict[str, object] = {
            "discord_webhook_url": f"https://discord.com/api/webhooks/123456789012345678/{self.canary}",
            "timescale_password": f"pw-{self.canary}",
            "alpaca_api_key": f"AK{self.canary}",
        }
        return values | overrides


def loads(plant: Plant) -> None:
    plant.openbao.write_kv2(plant.path, plant.secrets())


def invalid_webhook(plant: Plant) -> None:
    plant.openbao.write_kv2(
        plant.path, plant.secrets(discord_webhook_url=f"http://example.com/{plant.canary}")
    )


def object_value(plant: Plant) -> None:
    plant.openbao.write_kv2(plant.path, plant.secrets(alpaca_api_key={"k": plant.canary}))


def canary_token(plant: Plant) -> None:
    plant.openbao.write_kv2(plant.path, plant.secrets())
    plant.mp.setenv("VAULT_TOKEN", f"s.{plant.canary}")


def canary_token_file(plant: Plant) -> None:
    plant.openbao.write_kv2(plant.path, plant.secrets())
    plant.mp.delenv("VAULT_TOKEN")
    write(plant.home / ".vault-token", f"s.{plant.canary}\n")


def canary_secret_id(plant: Plant) -> None:
    role_id, _ = plant.openbao.approle([f"secret/data/{plant.path}"])
    plant.mp.delenv("VAULT_TOKEN")
    plant.mp.setenv("VAULT_ROLE_ID", role_id)
    plant.mp.setenv("VAULT_SECRET_ID", plant.canary)


def canary_jwt(plant: Plant) -> None:
    plant.mp.delenv("VAULT_TOKEN")
    plant.mp.setenv("VAULT_K8S_ROLE", "nova-app")
    token = write(plant.home / "sa-token", f"eyJ.{plant.canary}.sig")
    plant.mp.setenv("VAULT_K8S_TOKEN_PATH", str(token))


def unreachable(plant: Plant) -> None:
    plant.mp.setenv("VAULT_ADDR", f"http://{HOST}:{free_port()}")
    plant.mp.setenv("VAULT_TOKEN", f"s.{plant.canary}")
    plant.mp.setenv("NOVA_VAULT_RETRIES", "0")


SITUATIONS: dict[str, Callable[[Plant], None]] = {
    f.__name__: f
    for f in (
        loads,
        invalid_webhook,
        object_value,
        canary_token,
        canary_token_file,
        canary_secret_id,
        canary_jwt,
        unreachable,
    )
}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@pytest.mark.parametrize("situation", sorted(SITUATIONS))
@given(tail=TAILS, environment=st.sampled_from(["development", "production"]))
def test_canary_in_vault_or_its_credentials_never_leaks(
    situation: str,
    tail: str,
    environment: str,
    openbao: OpenBao,
    kubernetes_reviewer: KubernetesReviewer,
) -> None:
    """Values, tokens, secret ids and JWTs never show in errors, logs, reprs or the CLI."""
    del kubernetes_reviewer  # configured on the server for the JWT situation
    canary = PREFIX + tail
    event(f"{situation} in {environment}")
    vault_logins.forget_logins()
    with (
        tempfile.TemporaryDirectory() as tmp,
        pytest.MonkeyPatch.context() as mp,
        debug_logs() as records,
    ):
        mp.chdir(tmp)
        mp.setenv("NOVA_ENV", environment)
        # In development a failed Vault falls back: .env then serves (without the canary).
        write(Path(tmp) / ".env", "".join(f"{k}={v}\n" for k, v in VALID.items()))
        plant = Plant(canary, mp, openbao, Path(tmp) / "home")
        SITUATIONS[situation](plant)
        outcome = load()
        if situation == "loads":
            assert isinstance(outcome, NovaSettings)
            assert outcome.source_of("alpaca_api_key").source == "vault"
        surfaces = outcome_surfaces(outcome, "")
        code, table = run_cli("check")
        json_code, report = run_cli("check", "--json")
        assert code == json_code
        assert json.loads(report)["ok"] is (code == 0)
        surfaces |= {"check output": table, "check --json output": report}
        assert has_debug_record(records)
        surfaces |= log_surfaces(records)
        assert_clean(canary, surfaces)


# --- AWS Secrets Manager -------------------------------------------------------------------------


class AwsPlant:
    """One example's setting on the moto server: the canary, a secret id, the process env."""

    def __init__(self, canary: str, mp: pytest.MonkeyPatch, server: MotoServer) -> None:
        self.canary = canary
        self.mp = mp
        self.client = server.secrets()
        self.secret_id = f"leak-{uuid.uuid4().hex[:10]}"
        for name, value in boto_environ(server.url).items():
            mp.setenv(name, value)
        mp.setenv("NOVA_AWS_SECRET_ID", self.secret_id)

    def put(self, **overrides: object) -> None:
        """Create the secret as a JSON object of the three canary-carrying secrets."""
        values: dict[str, object] = {
            "discord_webhook_url": f"https://discord.com/api/webhooks/123456789012345678/{self.canary}",
            "DB_PASSWORD": f"pw-{self.canary}",
            "alpaca_api_key": f"AK{self.canary}",
        }
        self.put_string(json.dumps(values | overrides))

    def put_string(self, text: str) -> None:
        self.client.create_secret(Name=self.secret_id, SecretString=text)


def aws_loads(plant: AwsPlant) -> None:
    plant.put()


def aws_binary(plant: AwsPlant) -> None:
    plant.client.create_secret(
        Name=plant.secret_id,
        SecretBinary=json.dumps({"alpaca_api_key": plant.canary}).encode(),
    )


def aws_invalid_webhook(plant: AwsPlant) -> None:
    plant.put(discord_webhook_url=f"http://example.com/{plant.canary}")


def aws_not_json(plant: AwsPlant) -> None:
    plant.put_string(f"password={plant.canary}")


def aws_json_string(plant: AwsPlant) -> None:
    plant.put_string(json.dumps(plant.canary))


def aws_object_value(plant: AwsPlant) -> None:
    plant.put(alpaca_api_key=[plant.canary])


def aws_canary_credentials(plant: AwsPlant) -> None:
    plant.mp.setenv("AWS_ENDPOINT_URL", f"http://{HOST}:{free_port()}")
    plant.mp.setenv("AWS_SECRET_ACCESS_KEY", plant.canary)
    plant.mp.setenv("NOVA_AWS_TIMEOUT", "0.5")


AWS_SITUATIONS: dict[str, Callable[[AwsPlant], None]] = {
    f.__name__: f
    for f in (
        aws_loads,
        aws_binary,
        aws_invalid_webhook,
        aws_not_json,
        aws_json_string,
        aws_object_value,
        aws_canary_credentials,
    )
}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@pytest.mark.parametrize("situation", sorted(AWS_SITUATIONS))
@given(tail=TAILS, environment=st.sampled_from(["development", "production"]))
def test_canary_in_aws_or_its_credentials_never_leaks(
    situation: str, tail: str, environment: str, moto_server: MotoServer
) -> None:
    """Secret strings, binaries and the secret key never show, botocore's DEBUG log included."""
    canary = PREFIX + tail
    event(f"{situation} in {environment}")
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        mp.setenv("HOME", tmp)
        mp.setenv("NOVA_ENV", environment)
        write(Path(tmp) / ".env", "".join(f"{k}={v}\n" for k, v in VALID.items()))
        plant = AwsPlant(canary, mp, moto_server)
        # Planted before the logs are captured: botocore logs the body of the test's own
        # CreateSecret request, which is the test's doing, not nova-config's.
        AWS_SITUATIONS[situation](plant)
        with debug_logs() as records:
            try:
                outcome = load()
                if situation == "aws_loads":
                    assert isinstance(outcome, NovaSettings)
                    origin = outcome.source_of("timescale_password")
                    assert origin.location.endswith("#DB_PASSWORD")
                surfaces = outcome_surfaces(outcome, "")
                code, table = run_cli("check")
                json_code, report = run_cli("check", "--json")
            finally:
                aws.close_clients()
        assert code == json_code
        surfaces |= {"check output": table, "check --json output": report}
        assert has_debug_record(records)
        if situation in ("aws_loads", "aws_binary"):
            # The filter has something to hide only when a secret was read.
            assert any(r.name == "botocore.parsers" for r in records)
        surfaces |= log_surfaces(records)
        assert_clean(canary, surfaces)
