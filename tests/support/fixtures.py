"""The fixtures not tied to a server: the clean environment every test runs in (autouse), a
scratch secrets folder, valid secrets, the stand-in store, and sys.path kept for `check`.

Also `running`, with which the server fixtures start and stop their servers.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from nova_config import ENVIRONMENTS, NovaSettings
from nova_config.sources import REGISTRY, _loaded
from tests.support.data import STORE_PREFIXES, VALID
from tests.support.helpers import MemorySource
from tests.support.openbao import ServerStartError

PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


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
        # Proxy variables too: Vault (through requests) and the alerts read them.
        read = name in project_variables() or name.lower() in PROXY_VARIABLES
        if name.startswith(STORE_PREFIXES) or read:
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


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> type[MemorySource]:
    """MemorySource registered under `memory`, empty, and used between env and dotenv."""
    monkeypatch.setitem(REGISTRY, "memory", "tests.support.helpers:MemorySource")
    monkeypatch.setitem(_loaded, "memory", MemorySource)
    monkeypatch.setattr(MemorySource, "data", {})
    monkeypatch.setattr(MemorySource, "fail", False)
    monkeypatch.setattr(MemorySource, "loads", 0)
    monkeypatch.setenv("NOVA_SOURCES", "env,memory,dotenv")
    return MemorySource


@pytest.fixture
def keep_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`nova-config check` puts the working folder on sys.path; undo it after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


# --- starting and stopping the servers -----------------------------------------------------------


class Stoppable(Protocol):
    def stop(self) -> None: ...


StoppableT = TypeVar("StoppableT", bound=Stoppable)


@contextlib.contextmanager
def running(start: Callable[[], StoppableT]) -> Iterator[StoppableT]:
    """A server started by `start` and stopped after the block; a failed start-up fails the
    test with the server's message (its log and the log's tail), as pytest.fail shows it."""
    try:
        server = start()
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
