"""Fixtures shared by the suite: a clean process environment, a scratch folder, valid secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nova_config import ENVIRONMENTS, NovaSettings

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQr"
VALID = {
    "DISCORD_WEBHOOK_URL": WEBHOOK,
    "TIMESCALE_PASSWORD": "tsdb-pass-0f9e8d",
    "ALPACA_API_KEY": "AKTESTKEY0123456789",
}


def valid_kwargs(**overrides: Any) -> dict[str, Any]:
    """The three required secrets as keyword arguments, with overrides."""
    return {name.lower(): value for name, value in VALID.items()} | overrides


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
        if name.startswith("NOVA_") or name in project_variables():
            monkeypatch.delenv(name)
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
