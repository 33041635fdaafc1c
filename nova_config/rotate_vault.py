"""A rotation's write to Vault or OpenBao: one check-and-set PATCH (KV v2), or a whole write (v1).

A database rotation (`rotate_db.py`) stages the new value first, as the key `<key>__pending`
beside the current one at the same path (`VaultStore`): the source reads keys by field names
and aliases only, so the app never takes the pending value for the current one, and the
promotion (the new value set, the pending key removed) is one PATCH with `cas`.

It reaches Vault as the source does: the same configuration, credentials and cached login (so
the load just made has already logged in), and every request through `VaultClient.request`,
bounded by NOVA_VAULT_DEADLINE, retried on busy answers and judged by the one status table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nova_config.errors import (
    MissingExtraError,
    SourceError,
    StoreAccessError,
    StoreDataError,
    UsageError,
)
from nova_config.hidden import HiddenDict, HiddenEnviron, HiddenStr
from nova_config.rotate import Staged, conflict
from nova_config.sources.vault_client import LOOKUP_SELF, VaultClient
from nova_config.sources.vault_config import VaultConfig, find_credentials
from nova_config.sources.vault_errors import DENIED, NOT_FOUND, Reply, judge, mentions

if TYPE_CHECKING:
    from nova_config.provenance import Provenance
    from nova_config.sources.vault_config import Credentials
    from nova_config.sources.vault_logins import Login

# KV v2 takes a PATCH only as a JSON merge patch (RFC 7396); any other type is refused (415).
MERGE_PATCH = "application/merge-patch+json"
# The pending value's key is `<key>__pending`: no field of a model is named so, and the source
# matches keys to fields by name, so it never reads the pending value as a setting.
PENDING_SUFFIX = "__pending"


class VaultWriter:
    """One rotation's requests to one Vault: its client, login, deadline and the key's place."""

    def __init__(self, origin: Provenance, environment: str) -> None:
        # The process environment, as the load read it; hidden from repr (it holds the token).
        environ = HiddenEnviron(os.environ)
        self.config = VaultConfig.from_environ(environ, environment)
        self.client = VaultClient(self.config)
        self.credentials: Credentials = find_credentials(environ)
        where, _, self.key = origin.location.rpartition("#")
        mount = self.config.mount
        if not where.startswith(f"{mount}/"):
            raise self.client.fail(
                StoreDataError, f"{origin.location} is not in the mount {mount}/ (NOVA_VAULT_MOUNT)"
            )
        self.path = where.removeprefix(f"{mount}/")
        self.version = origin.version
        self.deadline = time.monotonic() + self.config.deadline

    def log_in(self, hvac: Any) -> Login:
        # The key the source logs in with, so the load's cached login is the one used.
        key = self.config.login_key(self.credentials)
        return self.client.login(hvac, key, self.credentials, self.deadline)

    def send(
        self, login: Login, method: str, url: str, body: dict[str, Any] | None = None
    ) -> Reply:
        """One request; a body goes as JSON, as a merge patch for PATCH."""
        content_type = MERGE_PATCH if method == "PATCH" else None
        return self.client.request(
            login.client, method, url, self.deadline, body=body, content_type=content_type
        )

    def denied(self, login: Login, needs: str) -> SourceError:
        """A 403: the credentials are no longer valid, or their policies lack `needs`."""
        lookup = self.client.request(login.client, "GET", LOOKUP_SELF, self.deadline)
        if judge(lookup) is DENIED:
            cause = f"permission denied: {self.credentials.label} is invalid or expired"
        else:
            cause = f"permission denied: {self.credentials.label} {needs}"
        return self.client.fail(StoreAccessError, cause)

    def failed(self, reply: Reply, doing: str) -> SourceError:
        verdict = judge(reply)
        kind = StoreDataError if verdict is None else verdict.kind
        return self.client.fail(
            kind, f"{doing} {self.config.mount}/{self.path}: HTTP {reply.status}"
        )

    def patch(self, login: Login, candidate: HiddenStr) -> tuple[str | None, str | None]:
        """KV v2: one PATCH of the key with `cas` set to the version the load read."""
        new = self.merge(login, {self.key: candidate}, self.version)
        return self.version, new

    def merge(
        self, login: Login, data: Mapping[str, str | None], version: str | None
    ) -> str | None:
        """KV v2: one PATCH of `data` (a key set to None is removed) with `cas` at `version`.

        Returns:
            The version written, as the server answered it.
        """
        url = f"v1/{self.config.mount}/data/{self.path}"
        body = {"options": {"cas": int(version or 0)}, "data": HiddenDict(data)}
        reply = self.send(login, "PATCH", url, body)
        verdict = judge(reply)
        if verdict is None:
            new = (reply.body.get("data") or {}).get("version")
            return None if new is None else str(new)
        where = f"{self.config.mount}/{self.path}"
        if mentions(reply.body, "check-and-set"):
            raise conflict(
                f"vault at {self.config.shown}: {where} changed since it was read "
                f"(version {version}); run again"
            )
        if verdict is DENIED:
            raise self.denied(
                login, f"may not patch {url.removeprefix('v1/')}: its policies need `patch` there"
            )
        if verdict is NOT_FOUND:
            raise self.client.fail(StoreDataError, f"{where} no longer exists (deleted since read)")
        raise self.failed(reply, "patching")

    def read(self, login: Login) -> Staged:
        """KV v2: the key's value, the path's version, and the pending value if one is staged."""
        url = f"v1/{self.config.mount}/data/{self.path}"
        where = f"{self.config.mount}/{self.path}"
        reply = self.send(login, "GET", url)
        verdict = judge(reply)
        if verdict is DENIED:
            raise self.denied(login, f"may not read {where}: its policies need `read` there")
        if verdict is NOT_FOUND:
            raise self.client.fail(StoreDataError, f"{where} no longer exists (deleted since read)")
        if verdict is not None:
            raise self.failed(reply, "reading")
        secret = reply.body.get("data") or {}
        data, version = secret.get("data"), (secret.get("metadata") or {}).get("version")
        if not isinstance(data, dict) or not isinstance(data.get(self.key), str):
            raise self.client.fail(StoreDataError, f"{where}#{self.key} holds no text value")
        pending = data.get(self.key + PENDING_SUFFIX)
        return Staged(
            HiddenStr(data[self.key]),
            None if version is None else str(version),
            HiddenStr(pending) if isinstance(pending, str) else None,
            None if version is None or pending is None else str(version),
        )

    def rewrite(self, login: Login, candidate: HiddenStr) -> tuple[None, None]:
        """KV v1: read the whole secret, set the key, write it back whole (v1 has no cas)."""
        url = f"v1/{self.config.mount}/{self.path}"
        where = f"{self.config.mount}/{self.path}"
        reply = self.send(login, "GET", url)
        verdict = judge(reply)
        if verdict is DENIED:
            raise self.denied(login, f"may not read {where}: its policies need `read` there")
        data = reply.body.get("data") if verdict is None else None
        if verdict is NOT_FOUND or (isinstance(data, dict) and self.key not in data):
            raise conflict(f"vault at {self.config.shown}: {where} changed since it was read")
        if not isinstance(data, dict):
            raise self.failed(reply, "reading")
        data = HiddenDict(data)
        data[self.key] = candidate
        reply = self.send(login, "POST", url, data)
        verdict = judge(reply)
        if verdict is DENIED:
            raise self.denied(
                login, f"may not write {where}: its policies need `update` (or `create`) there"
            )
        if verdict is not None:
            raise self.failed(reply, "writing")
        return None, None


def hvac_module() -> Any:
    """The hvac module, imported only when a rotation uses Vault."""
    try:
        import hvac  # noqa: PLC0415 - the SDK is needed only when Vault is used
    except ImportError:
        raise MissingExtraError(
            "rotating a Vault secret needs hvac: pip install 'nova-config[vault]'"
        ) from None
    return hvac


def write_vault(
    origin: Provenance, candidate: str, environment: str
) -> tuple[str | None, str | None]:
    """Write a new value to the key a load read, the path's other keys left as they are.

    Args:
        origin: the field's provenance: `mount/path#key` and the KV v2 version read.
        candidate: the new value.
        environment: the environment of the load.

    Returns:
        The version replaced and the version written (None, None for KV v1).

    Raises:
        RotationConflictError: the secret changed since it was read (`cas` mismatch, v2).
        SourceError: Vault cannot be reached, or the credentials may not write.
        SourceConfigError: the Vault configuration is invalid (hvac missing included).
    """
    candidate = HiddenStr(candidate)  # this frame's local, as error trackers record it
    writer = VaultWriter(origin, environment)
    login = writer.log_in(hvac_module())
    if writer.config.kv_version == 2:
        return writer.patch(login, candidate)
    return writer.rewrite(login, candidate)


class VaultStore:
    """A database rotation's staging in Vault (KV v2): the pending value as `<key>__pending`.

    Each operation makes its own requests within its own NOVA_VAULT_DEADLINE, through the
    login the load made; each write is a PATCH with `cas`, so a write by anyone else between
    two steps is refused (a conflict), never lost.
    """

    def __init__(self, origin: Provenance, environment: str) -> None:
        self.origin = origin
        self.environment = environment
        self.key = origin.location.rpartition("#")[2]
        self.hvac_module = hvac_module()
        if VaultWriter(origin, environment).config.kv_version != 2:
            raise UsageError(
                "rotate --database needs Vault KV v2: the pending value and its promotion "
                "rely on check-and-set, which KV v1 has not"
            )

    def _start(self) -> tuple[VaultWriter, Login]:
        writer = VaultWriter(self.origin, self.environment)
        return writer, writer.log_in(self.hvac_module)

    def _merge(self, changes: Mapping[str, str | None], version: str | None) -> str:
        writer, login = self._start()
        new = writer.merge(login, changes, version)
        if new is None:  # the next step's cas needs it
            raise writer.client.fail(StoreDataError, "a PATCH was answered without a version")
        return new

    def read(self) -> Staged:
        """The key's current value and version, and the pending value if one is staged."""
        writer, login = self._start()
        return writer.read(login)

    def stage(self, staged: Staged, candidate: str) -> Staged:
        """Write `candidate` as the pending value (cas at `staged.version`)."""
        candidate = HiddenStr(candidate)  # this frame's local, as error trackers record it
        new = self._merge({self.key + PENDING_SUFFIX: candidate}, staged.version)
        return Staged(staged.current, new, candidate, new)

    def promote(self, staged: Staged) -> str:
        """Make the pending value current and remove it, in one PATCH; the version written."""
        if staged.pending is None:
            raise ValueError("nothing is pending")
        return self._merge(
            {self.key: staged.pending, self.key + PENDING_SUFFIX: None}, staged.version
        )

    def discard(self, staged: Staged) -> Staged:
        """Remove the pending value; the current one stays."""
        new = self._merge({self.key + PENDING_SUFFIX: None}, staged.version)
        return Staged(staged.current, new)


__all__ = [
    "MERGE_PATCH",
    "PENDING_SUFFIX",
    "VaultStore",
    "VaultWriter",
    "hvac_module",
    "write_vault",
]
