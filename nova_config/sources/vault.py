"""HashiCorp Vault and OpenBao: KV v1/v2 secrets, one request per path (sent by vault_client)."""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from nova_config.errors import (
    MissingExtraError,
    Problem,
    SourceError,
    StoreAccessError,
    StoreDataError,
    StoreUnavailableError,
)
from nova_config.fields import FieldPlan
from nova_config.sources.base import Found, LoadContext, Source, SourceResult
from nova_config.sources.common import Claims
from nova_config.sources.vault_client import LOOKUP_SELF, VaultClient
from nova_config.sources.vault_config import Credentials, VaultConfig, find_credentials
from nova_config.sources.vault_errors import DENIED, NOT_FOUND, Reply, judge, mentions
from nova_config.sources.vault_logins import Login
from nova_config.sources.workers import submit

if TYPE_CHECKING:
    import hvac


logger = logging.getLogger("nova_config")
_CLASH = "vault: {earlier} and {where} both hold {variable}; keep one"

# How long past its deadline a load waits for a path read on a worker, so that the worker's own,
# more precise message (which also names the deadline) wins the race when both are due.
DEADLINE_GRACE = 0.1


class VaultSource(Source):
    """Reads every configured KV path once, concurrently, highest-priority path first."""

    name = "vault"

    def __init__(self, context: LoadContext) -> None:
        super().__init__(context)
        self.config = VaultConfig.from_environ(context.environ, context.environment)
        self.client = VaultClient(self.config)
        self._missing_paths: dict[str, str] = {}
        self._by_key = context.plans_by_key()

    @classmethod
    def skip_reason(cls, context: LoadContext) -> str | None:
        named = "vault" in context.environ.get("NOVA_SOURCES", "").lower()
        if context.environ.get("VAULT_ADDR") or named:
            return None
        return "vault: VAULT_ADDR is not set"

    def where(self) -> str:
        paths = ", ".join(f"{self.config.mount}/{p}" for p in self.config.paths)
        return f"{self.config.shown} {paths}"

    def places(self, plan: FieldPlan) -> str:
        names = ", ".join(dict.fromkeys((plan.name, plan.variable, *plan.aliases)))
        paths = ", ".join(
            f"{self.config.mount}/{p}"
            + (f" ({self._missing_paths[p]})" if p in self._missing_paths else "")
            for p in self.config.paths
        )
        return f"vault at {self.config.shown}: key {names} in {paths}"

    def _fail(self, kind: type[SourceError], cause: str) -> SourceError:
        return self.client.fail(kind, cause)

    def load(self) -> SourceResult:
        try:
            import hvac  # noqa: PLC0415 - the SDK is needed only when Vault is used
        except ImportError:
            raise MissingExtraError(
                "the vault source needs hvac: pip install 'nova-config[vault]'"
            ) from None
        self.client.warn_plaintext()
        credentials = find_credentials(self.context.environ)
        # Every step below is bounded by this: the login lock, retries and their pauses, each
        # new connection (made on a worker), and each read of an answer (see transport.py).
        deadline = time.monotonic() + self.config.deadline
        return self._load(hvac, credentials, deadline)

    def _load(self, hvac: Any, credentials: Credentials, deadline: float) -> SourceResult:
        key = self.config.login_key(credentials)
        login = self.client.login(hvac, key, credentials, deadline)
        replies = self._read_paths(login, deadline)
        # A cached login may have been revoked or outlived its TTL: log in once more.
        if (
            credentials.login_path
            and any(judge(r) is DENIED for r in replies.values())
            and judge(self.client.request(login.client, "GET", LOOKUP_SELF, deadline)) is DENIED
        ):
            login = self.client.login(hvac, key, credentials, deadline, stale=login)
            replies = self._read_paths(login, deadline)
        return self._collect(login.client, credentials, replies, deadline)

    def _read_paths(self, login: Login, deadline: float) -> dict[str, Reply]:
        paths = self.config.paths

        def read(path: str) -> Reply:
            return self.client.request(login.client, "GET", self.config.url(path), deadline)

        # The other paths on workers, the first on this thread, all within the deadline.
        others = [submit(partial(read, path)) for path in paths[1:]]
        replies = {paths[0]: read(paths[0])}
        late = False
        for path, future in zip(paths[1:], others, strict=True):
            try:
                replies[path] = future.result(
                    timeout=max(0.0, deadline - time.monotonic()) + DEADLINE_GRACE
                )
            except TimeoutError:
                late = True
                break
        if late:
            raise self._fail(StoreUnavailableError, self.client.deadline_passed())
        return replies

    def _collect(
        self,
        client: hvac.Client,
        credentials: Credentials,
        replies: dict[str, Reply],
        deadline: float,
    ) -> SourceResult:
        result = SourceResult()
        mount = self.config.mount
        for path in self.config.paths:  # highest priority first
            reply = replies[path]
            verdict = judge(reply)
            if verdict is DENIED:
                raise self._denied(client, credentials, path, deadline)
            if verdict is NOT_FOUND:
                if mentions(reply.body, "invalid path for a versioned k/v"):
                    raise self._mismatch(actual=2)
                missing = "no such mount" if mentions(reply.body, "no handler") else "not found"
                self._missing_paths[path] = missing
                continue
            if verdict is not None:
                raise self._fail(verdict.kind, f"reading {mount}/{path}: HTTP {reply.status}")
            data, version = _secret_of(reply.body, self.config.kv_version)
            if data is None:
                if self.config.kv_version == 2:
                    raise self._mismatch(actual=1)
                raise self._fail(StoreDataError, f"{mount}/{path} holds no key/value data")
            self._take(path, data, version, result)
        if len(self._missing_paths) == len(self.config.paths) and self.config.kv_version == 2:
            # A KV v2 read of a KV v1 mount looks like a missing path; one look at the mount
            # (only when nothing at all was found) tells the two apart.
            info = self.client.request(
                client, "GET", f"v1/sys/internal/ui/mounts/{mount}", deadline
            )
            options = (info.body.get("data") or {}).get("options") or {}
            if info.status == 200 and str(options.get("version", "1")) == "1":
                raise self._mismatch(actual=1)
        return result

    def _take(
        self, path: str, data: dict[str, Any], version: str | None, result: SourceResult
    ) -> None:
        claims = Claims(self._by_key, result)
        for key in sorted(data):
            where = f"{self.config.mount}/{path}#{key}"
            # A higher-priority path that already holds the field wins.
            plan = claims.claim(
                key, where, "vault: {earlier} and {where} both hold {variable}; keep one"
            )
            if plan is None:
                continue
            text = _text_of(data[key])
            if text is None:
                result.problems.append(
                    Problem(plan.variable, f"vault: {where} holds no text value", "source")
                )
                continue
            result.found[plan.name] = Found(text, where, version)

    def _denied(
        self, client: hvac.Client, credentials: Credentials, path: str, deadline: float
    ) -> SourceError:
        lookup = self.client.request(client, "GET", LOOKUP_SELF, deadline)
        if judge(lookup) is DENIED:
            cause = f"permission denied: {credentials.label} is invalid or expired"
        else:
            cause = (
                f"permission denied: the token's policies do not allow reading "
                f"{self.config.url(path).removeprefix('v1/')}"
            )
        return self._fail(StoreAccessError, cause)

    def _mismatch(self, actual: int) -> SourceError:
        return self._fail(
            StoreDataError,
            f"KV version mismatch: {self.config.mount}/ is a KV v{actual} mount but "
            f"NOVA_VAULT_KV_VERSION is {self.config.kv_version}",
        )


def _secret_of(body: dict[str, Any], kv_version: int) -> tuple[dict[str, Any] | None, str | None]:
    data = body.get("data")
    if not isinstance(data, dict):
        return None, None
    if kv_version == 1:
        return data, None
    inner, metadata = data.get("data"), data.get("metadata")
    if not isinstance(inner, dict) or not isinstance(metadata, dict):
        return None, None
    version = metadata.get("version")
    return inner, None if version is None else str(version)


def _text_of(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


__all__ = ["VaultSource"]
