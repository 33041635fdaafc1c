"""Plain helpers of the tests: a file written, a stand-in store, the process pointed at Vault."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from nova_config import SourceError
from nova_config.fields import FieldPlan
from nova_config.sources.base import Found, LoadContext, Source, SourceResult
from tests.support.moto import MotoServer, boto_environ
from tests.support.openbao import OpenBao

if TYPE_CHECKING:
    import pytest

ServerT = TypeVar("ServerT", bound=OpenBao)


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


def use_new_aws_secret(
    server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
    data: Mapping[str, str],
    endpoint: str | None = None,
) -> str:
    """boto3 pointed at `endpoint` (moto itself by default), and NOVA_AWS_SECRET_ID at a new
    JSON secret holding `data` under `prefix`; the secret's name."""
    for name, value in boto_environ(endpoint or server.url).items():
        monkeypatch.setenv(name, value)
    name = f"{prefix}/{uuid.uuid4().hex[:12]}"
    server.secrets().create_secret(Name=name, SecretString=json.dumps(dict(data)))
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", name)
    return name
