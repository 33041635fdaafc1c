"""The never-leak guarantee for the stores: canaries in Vault and in credentials never show."""

from __future__ import annotations

import json
import string
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import VALID, write
from nova_config import NovaSettings
from nova_config.sources import vault
from server_openbao import HOST, KubernetesReviewer, OpenBao, free_port
from test_leaks import (
    PREFIX,
    assert_clean,
    debug_logs,
    has_debug_record,
    load,
    log_surfaces,
    outcome_surfaces,
    run_cli,
)

# Any text, then a UUID's hex: a tail that happens to spell a word of the output ("Resolution")
# would otherwise be found there without having leaked.
TAILS = st.builds(
    lambda text, tag: text + tag.hex[:12],
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
    vault.forget_logins()
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
