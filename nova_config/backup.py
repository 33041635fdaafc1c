"""What a backup holds: every key at the app's Vault paths and AWS secrets, with its metadata.

The stores are reached as a rotation reaches them (`rotate_vault.VaultWriter`,
`aws_secret.AwsSecret`): the same configuration, cached login or client, deadlines and error
tables. The places are the app's own, per environment: the configured mount's
`VaultConfig.from_environ(environ, env).paths`, and the AWS source's `secret_ids`. A backup
reads one `GET data/<path>` per Vault path (KV v2: the version, `created_time` and
`custom_metadata` come with it) and one GetSecretValue per secret; `--versions all` adds one
metadata read (Vault) or ListSecretVersionIds (AWS) per place and one read per older version
the store still holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from nova_config.aws_secret import AwsSecret, members_of
from nova_config.backup_format import Backup, Entry, now_text
from nova_config.errors import StoreDataError, UsageError
from nova_config.hidden import HiddenDict, HiddenEnviron
from nova_config.provenance import Provenance
from nova_config.rotate_vault import VaultWriter, hvac_module
from nova_config.sources.aws_errors import failure_of
from nova_config.sources.base import LoadContext
from nova_config.sources.vault_config import VaultConfig
from nova_config.sources.vault_errors import DENIED, NOT_FOUND, judge

MAX_VERSION_PAGES = 100  # ListSecretVersionIds pages; AWS keeps about 100 versions
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC


class VaultPlace:
    """One Vault path of the configured mount: its reads and its one write, on one login."""

    def __init__(self, location: str, environment: str) -> None:
        self.location = location
        self.writer = VaultWriter(Provenance("vault", f"{location}#", None), environment)
        self.kv2 = self.writer.config.kv_version == 2
        self.login = self.writer.log_in(hvac_module())

    def _get(self, url: str, needs: str) -> dict[str, Any] | None:
        reply = self.writer.send(self.login, "GET", url)
        verdict = judge(reply)
        if verdict is NOT_FOUND:
            return None
        if verdict is DENIED:
            raise self.writer.denied(self.login, f"may not read {self.location}: needs {needs}")
        if verdict is not None:
            raise self.writer.failed(reply, "reading")
        data = reply.body.get("data")
        if not isinstance(data, dict):
            raise self.writer.client.fail(StoreDataError, f"{self.location} holds no data")
        return data

    def read(self, version: int | None = None) -> tuple[HiddenDict[str, Any], dict[str, Any]]:
        """The path's data and its metadata (empty data and metadata when it does not exist)."""
        mount, path = self.writer.config.mount, self.writer.path
        if not self.kv2:
            found = self._get(f"v1/{mount}/{path}", "`read`")
            return HiddenDict(found or {}), {}
        query = "" if version is None else f"?version={version}"
        found = self._get(f"v1/{mount}/data/{path}{query}", "`read` on its data/ path")
        if found is None:
            return HiddenDict(), {}
        data, metadata = found.get("data"), found.get("metadata") or {}
        if not isinstance(data, dict):  # a deleted version: metadata without data
            return HiddenDict(), {}
        return HiddenDict(data), dict(metadata)

    def versions(self) -> list[int]:
        """KV v2: the versions the store still holds (neither deleted nor destroyed)."""
        url = f"v1/{self.writer.config.mount}/metadata/{self.writer.path}"
        found = self._get(url, "`read` on its metadata/ path (--versions all)") or {}
        held = []
        for number, version in (found.get("versions") or {}).items():
            if not (version.get("deletion_time") or version.get("destroyed")):
                held.append(int(number))
        return sorted(held)

    def entries(self, every: bool, environments: tuple[str, ...]) -> list[Entry]:
        data, metadata = self.read()
        if not data:
            return []
        current = metadata.get("version")
        found = _vault_entries(self.location, data, metadata, environments)
        if every and self.kv2 and current is not None:
            for number in self.versions():
                if number != current:
                    older, older_metadata = self.read(number)
                    found += _vault_entries(self.location, older, older_metadata, environments)
        return found


def _vault_entries(
    location: str, data: Mapping[str, Any], metadata: Mapping[str, Any], envs: tuple[str, ...]
) -> list[Entry]:
    version = metadata.get("version")
    extra = {"custom_metadata": metadata.get("custom_metadata")} if metadata else {}
    return [
        Entry(
            "vault",
            location,
            key,
            None if version is None else str(version),
            metadata.get("created_time"),
            extra,
            value,
            envs,
        )
        for key, value in data.items()
    ]


class AwsPlace:
    """One Secrets Manager secret: its versions, each a JSON object of keys."""

    def __init__(self, secret_id: str, environment: str) -> None:
        self.location = secret_id
        self.secret = AwsSecret(Provenance("aws", f"{secret_id}#", None), environment)

    def call(self, method: str, **arguments: Any) -> dict[str, Any] | None:
        """One SDK call; None when the secret (or version) does not exist."""
        secret, failure = self.secret, None
        call = getattr(secret.client, method)
        done = secret.finished(lambda: call(SecretId=secret.secret_id, **arguments))
        try:
            return dict(done.result())
        except Exception as exc:  # judged by the one table, raised outside this block
            judged = failure_of(exc, secret.timeout)
            if judged is not None:
                failure = judged[0](f"{secret.where}: {judged[1]}")
        if failure is not None:
            raise failure
        return None

    def read(self, **version: str) -> tuple[HiddenDict[str, Any], dict[str, Any]]:
        """A version's keys (AWSCURRENT by default) and its id, stages and date; empty if none."""
        reply = self.call("get_secret_value", **version)
        if reply is None:
            return HiddenDict(), {}
        members = members_of(HiddenDict(reply), self.secret.where)
        created = reply.get("CreatedDate")
        return members, {
            "VersionId": reply.get("VersionId"),
            "VersionStages": list(reply.get("VersionStages") or ()),
            "CreatedDate": created.isoformat() if isinstance(created, datetime) else None,
        }

    def version_ids(self) -> list[str]:
        """Every version the secret still has (deprecated ones, without a stage, included)."""
        ids: list[str] = []
        arguments: dict[str, Any] = {"IncludeDeprecated": True}
        for _ in range(MAX_VERSION_PAGES):
            page = self.call("list_secret_version_ids", **arguments) or {}
            ids += [str(v["VersionId"]) for v in page.get("Versions") or () if "VersionId" in v]
            if not page.get("NextToken"):
                break
            arguments["NextToken"] = page["NextToken"]
        return ids

    def entries(self, every: bool, environments: tuple[str, ...]) -> list[Entry]:
        data, metadata = self.read()
        found = _aws_entries(self.location, data, metadata, environments)
        if every and data:
            for version_id in self.version_ids():
                if version_id != metadata.get("VersionId"):
                    older, older_metadata = self.read(VersionId=version_id)
                    found += _aws_entries(self.location, older, older_metadata, environments)
        return found


def _aws_entries(
    location: str, data: Mapping[str, Any], metadata: Mapping[str, Any], envs: tuple[str, ...]
) -> list[Entry]:
    extra = {"version_stages": metadata.get("VersionStages", [])}
    return [
        Entry(
            "aws",
            location,
            key,
            metadata.get("VersionId"),
            metadata.get("CreatedDate"),
            extra,
            value,
            envs,
        )
        for key, value in data.items()
    ]


def places(environments: Sequence[str], environ: Mapping[str, str]) -> dict[tuple[str, str], Any]:
    """Each (store, location) the app reads in these environments, with the environments.

    Raises:
        UsageError: no store is configured (neither VAULT_ADDR nor NOVA_AWS_SECRET_ID).
        SourceConfigError: a store's variables are invalid.
    """
    from nova_config.sources.aws import AwsSource  # noqa: PLC0415 - boto3 only when used

    found: dict[tuple[str, str], list[str]] = {}
    for environment in environments:
        where: list[tuple[str, str]] = []
        if environ.get("VAULT_ADDR"):
            config = VaultConfig.from_environ(environ, environment)
            where += [("vault", f"{config.mount}/{path}") for path in config.paths]
        if environ.get("NOVA_AWS_SECRET_ID"):
            source = AwsSource(LoadContext(environment, environ, ()))
            where += [("aws", secret_id) for secret_id in source.secret_ids]
        for place in where:
            found.setdefault(place, []).append(environment)
    if not found:
        raise UsageError("nothing to back up: neither VAULT_ADDR nor NOVA_AWS_SECRET_ID is set")
    return {place: tuple(envs) for place, envs in found.items()}


def open_place(store: str, location: str, environment: str) -> VaultPlace | AwsPlace:
    """The place's store, reached with the process's configuration and credentials."""
    if store == "vault":
        return VaultPlace(location, environment)
    return AwsPlace(location, environment)


def collect(settings: str, environments: Sequence[str], every: bool) -> Backup:
    """Read every key of every place of `environments` into a backup (in memory).

    Args:
        settings: the settings class, as `module:Class` (recorded in the document).
        environments: the environments whose places are read.
        every: every version the stores still hold, not only the current one.

    Raises:
        SourceError: a store cannot be read (its own deadline and error table).
    """
    environ = HiddenEnviron(os.environ)
    entries: list[Entry] = []
    for (store, location), envs in places(environments, environ).items():
        entries += open_place(store, location, envs[0]).entries(every, envs)
    return Backup(settings, now_text(), tuple(environments), tuple(entries))


def write_private(path: str, data: bytes) -> str:
    """Write `data` to `path`, mode 0600, through a temporary file of the same folder, renamed.

    Returns:
        The SHA-256 of what was written, hex.
    """
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, _CREATE, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)  # the mode whatever the umask
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    return hashlib.sha256(data).hexdigest()


def manifest_path(path: str) -> str:
    """Where a backup's manifest goes: beside it, `FILE.manifest.json`."""
    return path + ".manifest.json"


def write_manifest(path: str, backup: Backup, digest: str) -> str:
    """The one-line manifest doctor reads (NOVA_BACKUP_MANIFEST): no value, no key name."""
    locations = sorted({f"{e.store}:{e.location}" for e in backup.entries})
    manifest = {
        "time": backup.created,
        "file": os.path.basename(path),
        "environments": list(backup.environments),
        "entries": len(backup.entries),
        "locations": locations,
        "sha256": digest,
    }
    target = manifest_path(path)
    write_private(target, (json.dumps(manifest, separators=(",", ":")) + "\n").encode())
    return target


__all__ = [
    "AwsPlace",
    "VaultPlace",
    "collect",
    "manifest_path",
    "open_place",
    "places",
    "write_manifest",
    "write_private",
]
