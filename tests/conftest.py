"""Fixtures shared by the suite: a clean process environment, a scratch folder, valid secrets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from nova_config import ENVIRONMENTS, NovaSettings, SourceError
from nova_config.fields import FieldPlan
from nova_config.sources import REGISTRY, _loaded, vault_logins
from nova_config.sources.base import Found, LoadContext, Source, SourceResult

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQr"
VALID = {
    "DISCORD_WEBHOOK_URL": WEBHOOK,
    "TIMESCALE_PASSWORD": "tsdb-pass-0f9e8d",
    "ALPACA_API_KEY": "AKTESTKEY0123456789",
}


def valid_kwargs(**overrides: Any) -> dict[str, Any]:
    """The three required secrets as keyword arguments, with overrides."""
    return {name.lower(): value for name, value in VALID.items()} | overrides


# Variables of nova-config itself and of the stores' SDKs (hvac reads VAULT_*, boto3 AWS_*).
STORE_PREFIXES = ("NOVA_", "VAULT_", "AWS_")


def project_variables() -> set[str]:
    """Every variable name nova-config reads for NovaSettings, in every environment."""
    names = {"PYDANTIC_SETTINGS_DEBUG"}
    for plan in NovaSettings.__nova_plans__:
        for env in ENVIRONMENTS:
            for name in plan.variables(env.upper() + "_"):
                names.update((name, name + "_FILE"))
    return names


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test depends on the machine: project variables cleared, cwd and secrets folder scratch."""
    for name in list(os.environ):
        if name.startswith(STORE_PREFIXES) or name in project_variables():
            monkeypatch.delenv(name)
    # The Vault source reads ~/.vault-token; a developer's own token must never reach a test.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # /run/secrets may exist on a machine; tests point at a folder they own instead.
    monkeypatch.setenv("NOVA_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """The (created) secrets folder that NOVA_SECRETS_DIR names."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    return folder


@pytest.fixture
def valid_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The three required secrets, valid, in the process environment."""
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    return dict(VALID)


def write(path: Path, text: str) -> Path:
    """Write text to a file (creating its folder) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class MemorySource(Source):
    """A store held in a class attribute, standing in for a later one such as Vault."""

    name = "memory"
    data: ClassVar[dict[str, str]] = {}
    fail: ClassVar[bool] = False
    loads: ClassVar[int] = 0

    @classmethod
    def skip_reason(cls, context: LoadContext) -> str | None:
        return "memory store is off in production" if context.environment == "production" else None

    def load(self) -> SourceResult:
        type(self).loads += 1
        if self.fail:
            raise SourceError("memory store at mem://local is unavailable: switched off")
        result = SourceResult()
        for plan in self.context.fields:
            if plan.variable in self.data:
                result.found[plan.name] = Found(
                    self.data[plan.variable], f"mem://local#{plan.name}", "7"
                )
        return result

    def places(self, plan: FieldPlan) -> str:
        return f"mem://local#{plan.name}"

    def where(self) -> str:
        return "mem://local"


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> type[MemorySource]:
    """MemorySource registered under `memory`, empty, and used between env and dotenv."""
    monkeypatch.setitem(REGISTRY, "memory", "conftest:MemorySource")
    monkeypatch.setitem(_loaded, "memory", MemorySource)
    monkeypatch.setattr(MemorySource, "data", {})
    monkeypatch.setattr(MemorySource, "fail", False)
    monkeypatch.setattr(MemorySource, "loads", 0)
    monkeypatch.setenv("NOVA_SOURCES", "env,memory,dotenv")
    return MemorySource


# The real servers of the stores, started once per session and stopped by PID.
from server_moto import fixture_moto_forwarder, fixture_moto_server  # noqa: E402, F401
from server_openbao import (  # noqa: E402, F401
    OpenBao,
    fault_proxy,
    kubernetes_reviewer,
    openbao,
    sealed_openbao,
    team_a,
    tls_openbao,
)

# --- Vault ---------------------------------------------------------------------------------------

ServerT = TypeVar("ServerT", bound=OpenBao)


@pytest.fixture
def fresh_logins() -> Iterator[None]:
    """Every test starts without a cached Vault client, so logins and reads are counted."""
    vault_logins.forget_logins()
    yield
    vault_logins.forget_logins()


@pytest.fixture
def base() -> str:
    """A path prefix of this test's own, on the shared server."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def at_vault(
    openbao: OpenBao,  # noqa: F811 - the fixture imported above, requested by name
    base: str,
    monkeypatch: pytest.MonkeyPatch,
) -> OpenBao:
    """The process points at the session server with the root token and this test's paths."""
    return point_at(openbao, base, monkeypatch)


def point_at(server: ServerT, base: str, monkeypatch: pytest.MonkeyPatch) -> ServerT:
    """Point the process at `server` with its root token and the paths under `base`."""
    monkeypatch.setenv("VAULT_ADDR", server.addr)
    monkeypatch.setenv("VAULT_TOKEN", server.root_token)
    monkeypatch.setenv("NOVA_VAULT_PATH", f"{base}/{{environment}},{base}")
    return server


def log_in_with_approle(
    server: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Replace VAULT_TOKEN by a new AppRole role that may read `base` and below; its ids."""
    role_id, secret_id = server.approle([f"secret/data/{base}", f"secret/data/{base}/*"])
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    return role_id, secret_id
