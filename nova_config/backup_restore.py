"""Restore and verify: a backup decrypted and checked whole, compared to the live stores, written.

Nothing is written until everything has been read and checked: the file decrypted, its format
and every entry validated, and every place of the backup read from its store (so a bad entry,
a place outside the configured mount or a store that cannot be read stops the restore before
its first write). Then each place that differs gets one write, a new version: KV v2 a PATCH
with `cas` at the version just read (a POST with `cas=0` where the path does not exist), AWS a
PutSecretValue of the merged JSON with a ClientRequestToken (CreateSecret where it does not
exist). History is kept; keys the backup does not hold are left as they are.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from nova_config.aws_secret import attempt
from nova_config.backup import AwsPlace, VaultPlace, open_place
from nova_config.backup_format import Backup, Key, decrypt, newest, parse, read_backup
from nova_config.errors import StoreDataError, UsageError
from nova_config.hidden import HiddenDict

CREATE, UPDATE, UNCHANGED, ADDED = "create", "update", "unchanged", "added"
# How `backup verify` names the same outcomes: the backup against the live store.
VERIFIED = {CREATE: "missing", UPDATE: "changed", UNCHANGED: "same", ADDED: "not in backup"}
CREATE_DENIED = "access denied ({code}): no secretsmanager:CreateSecret"


class PlaceState(NamedTuple):
    """One place: the backup's newest keys, what the store holds now, and each key's action."""

    place: VaultPlace | AwsPlace
    store: str
    exists: bool
    version: Any
    live: HiddenDict[str, Any]
    wanted: HiddenDict[str, Any]
    actions: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        return f"PlaceState({self.store} {self.place.location})"

    @property
    def changes(self) -> HiddenDict[str, Any]:
        """The keys to write: created or updated."""
        return HiddenDict(
            (key, self.wanted[key]) for key, action in self.actions if action in (CREATE, UPDATE)
        )


def load(path: str, key: Key) -> Backup:
    """Read, decrypt and check a backup file whole.

    Raises:
        BackupFileError: it cannot be read, is not age, cannot be decrypted with `key`, is
            damaged, has another format version, or holds a malformed entry.
    """
    return parse(decrypt(read_backup(path), key, path), path)


def _selected(
    backup: Backup, environments: Sequence[str]
) -> dict[tuple[str, str], tuple[str, HiddenDict[str, Any]]]:
    """Each place's newest keys, limited to `environments` when any are given."""
    chosen: dict[tuple[str, str], tuple[str, HiddenDict[str, Any]]] = {}
    for (store, location, key), entry in newest(backup.entries).items():
        envs = entry.environments or backup.environments or ("development",)
        if environments and not set(envs) & set(environments):
            continue
        environment = next((e for e in envs if e in environments), envs[0])
        chosen.setdefault((store, location), (environment, HiddenDict()))[1][key] = entry.value
    return chosen


def _actions(live: HiddenDict[str, Any], wanted: HiddenDict[str, Any]) -> tuple[Any, ...]:
    actions = [
        (key, CREATE if key not in live else UNCHANGED if live[key] == value else UPDATE)
        for key, value in wanted.items()
    ]
    actions += [(key, ADDED) for key in live if key not in wanted]
    return tuple(sorted(actions))


def survey(backup: Backup, environments: Sequence[str] = ()) -> list[PlaceState]:
    """Every place of the backup read from its store now, and each key's action (no write).

    Raises:
        UsageError: the backup holds Vault places and VAULT_ADDR is not set.
        SourceError: a store cannot be read, or a place is outside the configured mount.
    """
    selected = _selected(backup, environments)
    if any(store == "vault" for store, _ in selected) and not os.environ.get("VAULT_ADDR"):
        raise UsageError("the backup holds Vault paths: set VAULT_ADDR (and credentials)")
    states = []
    for (store, location), (environment, wanted) in sorted(selected.items()):
        place = open_place(store, location, environment)
        live, metadata = place.read()
        version = metadata.get("version" if store == "vault" else "VersionId")
        exists = bool(metadata) or bool(live)
        states.append(
            PlaceState(place, store, exists, version, live, wanted, _actions(live, wanted))
        )
    return states


def _write_vault(place: VaultPlace, state: PlaceState) -> str | None:
    """One write of a path: PATCH with cas (KV v2), POST with cas=0 (new), or POST whole (v1)."""
    writer, login, changes = place.writer, place.login, state.changes
    config = writer.config
    if place.kv2 and state.exists:
        return writer.merge(login, changes, str(state.version))
    if place.kv2:
        url = f"v1/{config.mount}/data/{writer.path}"
        body: dict[str, Any] = {"options": {"cas": 0}, "data": changes}
    else:
        url, body = f"v1/{config.mount}/{writer.path}", HiddenDict(state.live | changes)
    reply = writer.send(login, "POST", url, body)
    if reply.status >= 300:
        raise writer.failed(reply, "writing")
    new = (reply.body.get("data") or {}).get("version")
    return None if new is None else str(new)


def _write_aws(place: AwsPlace, state: PlaceState) -> str:
    """One new version of the secret: the live JSON with the backup's keys set."""
    secret = place.secret
    text = json.dumps(HiddenDict(state.live | state.changes))
    if state.exists:
        return secret.put(HiddenDict({"SecretString": text}))
    token = str(uuid.uuid4())
    reply = attempt(
        lambda: secret.client.create_secret(
            Name=secret.secret_id, ClientRequestToken=token, SecretString=text
        ),
        secret.where,
        secret.timeout,
        CREATE_DENIED,
        deadline=secret.deadline,
        unsure=f"; the secret may still be created (VersionId {token}): check before running again",
    )
    return str(reply.get("VersionId"))


def apply(states: Sequence[PlaceState]) -> list[tuple[str, str | None]]:
    """Write each place that differs, one new version each; the places and versions written.

    Raises:
        RotationConflictError: a path changed between the survey and its write (cas).
        SourceError: a store refused a write; the places before it are written.
    """
    written = []
    for state in states:
        if not state.changes:
            continue
        place = state.place
        if isinstance(place, VaultPlace):
            new = _write_vault(place, state)
        else:
            new = _write_aws(place, state)
        if new is None and isinstance(place, VaultPlace) and place.kv2:
            raise place.writer.client.fail(StoreDataError, "a write was answered without a version")
        written.append((f"{state.store}:{place.location}", new))
    return written


def differences(states: Sequence[PlaceState]) -> int:
    """How many keys differ between the backup and the live stores (verify's exit status)."""
    return sum(action != UNCHANGED for state in states for _, action in state.actions)


__all__ = [
    "ADDED",
    "CREATE",
    "UNCHANGED",
    "UPDATE",
    "VERIFIED",
    "PlaceState",
    "apply",
    "differences",
    "load",
    "survey",
]
