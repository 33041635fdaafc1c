"""Cheap version probes of the stores: whether anything changed, found without reading a value.

One probe per place a load reads: a Vault KV v2 path is one metadata read, an AWS secret one
`DescribeSecret`, a secret folder or file and a `.env` file a `stat` (and the Kubernetes `..data`
link). A probe gives a version token, or None when it cannot tell (the store is down, metadata
is denied); the watcher then keeps what it knew. The stores are configured as a load configures
them: the probes build the stores' own sources and reuse their clients and cached logins.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nova_config.errors import SettingsError, SourceError, StoreUnavailableError
from nova_config.sources.base import LoadContext
from nova_config.sources.dotenv import DotenvSource
from nova_config.sources.files import FileSource
from nova_config.sources.vault_client import LOOKUP_SELF
from nova_config.sources.vault_config import find_credentials
from nova_config.sources.vault_errors import DENIED, NOT_FOUND, Reply, judge
from nova_config.sources.vault_logins import Login, keep
from nova_config.sources.workers import finished_within

if TYPE_CHECKING:
    from nova_config.fields import FieldPlan

logger = logging.getLogger("nova_config")

Token = str | None  # a place's version; None when the probe could not tell
PROBED = ("files", "vault", "aws", "dotenv")  # env cannot change from outside the process
RENEW_SELF = "v1/auth/token/renew-self"
# Vault counts TTLs in whole seconds: a renewal is made this much before the 2/3 mark.
SLACK = 1.0


def file_version(path: str) -> str:
    """A file's version: (mtime, size, inode) of what the path leads to, or `absent`."""
    try:
        info = os.stat(path)
    except OSError:
        return "absent"
    return f"{info.st_mtime_ns}:{info.st_size}:{info.st_ino}"


def folder_version(folder: str) -> str:
    """A secret folder's version: its `..data` link target and every entry's file version."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if not e.name.startswith("."))
    except OSError:
        return "absent"
    try:
        data = os.readlink(os.path.join(folder, "..data"))  # Kubernetes' atomic swap
    except OSError:
        data = ""
    parts = [data, *(f"{n}={file_version(os.path.join(folder, n))}" for n in names)]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def created_time(text: object) -> datetime | None:
    """Vault's RFC 3339 time (nanoseconds cut to microseconds), or None."""
    if not isinstance(text, str) or not text:
        return None
    head, dot, rest = text.rstrip("Z").partition(".")
    try:
        return datetime.fromisoformat(f"{head}.{rest[:6].ljust(6, '0')}+00:00" if dot else head)
    except ValueError:
        return None


class Warnings:
    """One warning per place and cause: a store that stays down is not reported on every poll."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def warn(self, place: str, cause: str) -> None:
        if self._last.get(place) != cause:
            self._last[place] = cause
            logger.warning("%s: the watcher cannot tell whether it changed: %s", place, cause)

    def clear(self, place: str) -> None:
        self._last.pop(place, None)


class VaultProbe:
    """Metadata reads of the KV v2 paths, on the load's cached login, kept alive at 2/3 TTL."""

    def __init__(self, context: LoadContext, warnings: Warnings | None = None) -> None:
        from nova_config.sources.vault import VaultSource  # noqa: PLC0415 - only when watched

        source = VaultSource(context)  # the configuration and client a load would use
        self.config, self.client = source.config, source.client
        self.environ = context.environ
        self._warnings = warnings or Warnings()
        self._login: Login | None = None
        self._renew_at: float | None = None
        self._period = 0.0

    def places(self) -> list[str]:
        return [f"vault {self.config.mount}/{path}" for path in self.config.paths]

    def _session(self, deadline: float, stale: Login | None = None) -> tuple[Login, bool]:
        """The login VaultSource caches (same key: both share one login), and whether it came
        from a login method (which can log in again) rather than a token."""
        import hvac  # noqa: PLC0415 - the SDK only when Vault is watched

        credentials = find_credentials(self.environ)
        key = self.config.login_key(credentials)
        login = self.client.login(hvac, key, credentials, deadline, stale=stale)
        if login is not self._login:
            self._renewal_time(login, deadline)
        if self._renew_at is None or time.monotonic() < self._renew_at:
            return login, credentials.login_path is not None
        reply = self.client.request(login.client, "POST", RENEW_SELF, deadline)
        auth = (reply.body.get("auth") or {}) if judge(reply) is None else {}
        lease = float(auth.get("lease_duration") or 0)
        if lease * 2 > self._period:  # else the token's max TTL is near: renewal cannot help
            if login.expires is not None:  # a login's: the cache's mark is 80% of the lease
                login = keep(key, login._replace(expires=time.monotonic() + lease * 0.8))
            self._login = login
            self._renew_at = time.monotonic() + max(0.0, lease * 2 / 3 - SLACK)
        elif credentials.login_path is None:
            shown = f"vault at {self.config.shown}"
            self._warnings.warn(shown, f"{credentials.label} cannot be renewed")
            self._renew_at = None
        else:  # log in again
            login = self.client.login(hvac, key, credentials, deadline, stale=login)
            self._renewal_time(login, deadline)
        return login, credentials.login_path is not None

    def _renewal_time(self, login: Login, deadline: float) -> None:
        """Ask the token's TTL once per login: renew when a third of it is left (root: never)."""
        self._login, self._renew_at = login, None
        reply = self.client.request(login.client, "GET", LOOKUP_SELF, deadline)
        data = (reply.body.get("data") or {}) if judge(reply) is None else {}
        ttl = float(data.get("ttl") or 0)
        if ttl > 0:
            self._period = float(data.get("creation_ttl") or ttl)
            self._renew_at = time.monotonic() + max(0.0, ttl - self._period / 3 - SLACK)

    def metadata(self, path: str, deadline: float) -> Reply:
        """One `GET v1/<mount>/metadata/<path>`: versions and times, never a value.

        Raises:
            SettingsError: Vault is unreachable or sealed, or no credentials are found.
        """
        login, relogin = self._session(deadline)
        url = f"v1/{self.config.mount}/metadata/{path}"
        reply = self.client.request(login.client, "GET", url, deadline)
        if (
            relogin
            and judge(reply) is DENIED
            and judge(self.client.request(login.client, "GET", LOOKUP_SELF, deadline)) is DENIED
        ):
            # The login was revoked or expired behind the watcher's back: once more.
            login, _ = self._session(deadline, stale=login)
            reply = self.client.request(login.client, "GET", url, deadline)
        return reply

    def versions(self) -> dict[str, Token]:
        """Each path's current version (`absent` when it does not exist)."""
        places = self.places()
        if self.config.kv_version != 2:
            for place in places:
                self._warnings.warn(place, "KV v1 has no versions; use refresh(force=True)")
            return dict.fromkeys(places)
        deadline = time.monotonic() + self.config.deadline
        result: dict[str, Token] = {}
        for place, path in zip(places, self.config.paths, strict=True):
            try:
                reply = self.metadata(path, deadline)
            except SettingsError as exc:  # unreachable, sealed, no credentials
                self._warnings.warn(place, str(exc))
                result[place] = None
                continue
            result[place] = self._token(place, reply)
        return result

    def _token(self, place: str, reply: Reply) -> Token:
        verdict = judge(reply)
        if verdict is NOT_FOUND:
            self._warnings.clear(place)
            return "absent"
        if verdict is not None:
            cause = f"metadata read: {verdict.meaning} (HTTP {reply.status})"
            if verdict is DENIED:
                cause += f"; the watcher needs read on {self.config.mount}/metadata/<path>"
            self._warnings.warn(place, cause)
            return None
        self._warnings.clear(place)
        data = reply.body.get("data") or {}
        current = str(data.get("current_version", ""))
        version = (data.get("versions") or {}).get(current) or {}
        gone = "-deleted" if version.get("deletion_time") or version.get("destroyed") else ""
        return f"v{current}{gone}"

    def created(self, path: str, version: str) -> datetime | None:
        """When a version of a path was written (Vault's `created_time`)."""
        reply = self.metadata(path, time.monotonic() + self.config.deadline)
        if judge(reply) is not None:
            raise SourceError(f"vault: metadata of {self.config.mount}/{path}: HTTP {reply.status}")
        versions = (reply.body.get("data") or {}).get("versions") or {}
        return created_time((versions.get(version) or {}).get("created_time"))


class AwsProbe:
    """One `DescribeSecret` per secret id, on the load's cached client: its stage's version id."""

    def __init__(self, context: LoadContext, warnings: Warnings | None = None) -> None:
        from nova_config.sources.aws import AwsSource  # noqa: PLC0415 - only when watched

        self.source = AwsSource(context)  # its ids, stage and timeout, as a load reads them
        self._warnings = warnings or Warnings()

    def _call(self, place: str, method: str, **arguments: Any) -> dict[str, Any] | None:
        """One call; None when the secret does not exist; SourceError when it failed."""
        from nova_config.sources.aws_errors import failure_of, late  # noqa: PLC0415 - AWS only

        source = self.source
        # AwsSource's cached client (one per configuration), shared with the loads; on a
        # worker thread, so that NOVA_AWS_DEADLINE bounds the call and its credentials.
        done = finished_within(
            lambda: getattr(source.client(), method)(**arguments), source.deadline
        )
        if done is None:
            raise StoreUnavailableError(f"{place}: {late(source.deadline)}")
        try:
            response: dict[str, Any] = done.result()
        except Exception as exc:  # every SDK error is judged by the one table (aws_errors)
            failure = failure_of(exc, source.timeout)
        else:
            self._warnings.clear(place)
            return response
        if failure is None:
            return None
        raise failure[0](f"{place}: {failure[1]}")

    def versions(self) -> dict[str, Token]:
        """Each secret's version id at the configured stage (`absent` when there is none)."""
        result: dict[str, Token] = {}
        for secret_id in self.source.secret_ids:
            place = f"aws {secret_id}"
            try:
                response = self._call(place, "describe_secret", SecretId=secret_id)
            except SettingsError as exc:
                self._warnings.warn(place, str(exc))
                result[place] = None
                continue
            stages = (response or {}).get("VersionIdsToStages") or {}
            current = [v for v, names in stages.items() if self.source.stage in names]
            result[place] = current[0] if current else "absent"
        return result

    def created(self, secret_id: str, version_id: str) -> datetime | None:
        """A version's `CreatedDate` (ListSecretVersionIds: rotation status only, never a poll)."""
        arguments: dict[str, Any] = {"SecretId": secret_id, "IncludeDeprecated": True}
        for _ in range(100):  # pages; AWS keeps about 100 versions
            page = self._call(f"aws {secret_id}", "list_secret_version_ids", **arguments) or {}
            for version in page.get("Versions") or ():
                if version.get("VersionId") == version_id:
                    created = version.get("CreatedDate")
                    return created if isinstance(created, datetime) else None
            if not page.get("NextToken"):
                break
            arguments["NextToken"] = page["NextToken"]
        return None


class Prober:
    """The probes of one settings class's stores in one environment; `poll()` reads no value."""

    def __init__(
        self,
        plans: tuple[FieldPlan, ...],
        environment: str,
        stores: tuple[str, ...],
        environ: Mapping[str, str],
    ) -> None:
        self.stores = tuple(s for s in stores if s in PROBED)
        self.environment = environment
        context = LoadContext(environment, environ, plans)
        self._warnings = Warnings()
        self.vault = VaultProbe(context, self._warnings) if "vault" in self.stores else None
        self.aws = AwsProbe(context, self._warnings) if "aws" in self.stores else None
        self._files: list[tuple[str, str, bool]] = []  # (place, path, folder)
        if "files" in self.stores:
            folders = FileSource(context).folders
            for plan in plans:
                for variable in plan.variables(context.prefix):
                    if path := environ.get(variable + "_FILE"):
                        self._files.append((f"files {path}", path, False))
            self._files.extend((f"files {folder}", folder, True) for folder in folders)
        if "dotenv" in self.stores:
            dotenv = DotenvSource(context).files
            self._files.extend((f"dotenv {path}", path, False) for path in dotenv)

    def poll(self) -> dict[str, Token]:
        """Every place's version, metadata only: no secret value is read."""
        found: dict[str, Token] = {}
        for place, path, folder in self._files:
            found[place] = folder_version(path) if folder else file_version(path)
        if self.vault is not None:
            found.update(self.vault.versions())
        if self.aws is not None:
            found.update(self.aws.versions())
        return found


__all__ = ["PROBED", "AwsProbe", "Prober", "Token", "VaultProbe", "Warnings", "created_time"]
