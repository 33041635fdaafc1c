"""The backup's file: one JSON document (`nova-config-backup/1`), encrypted with age in memory.

The plaintext exists only in this process's memory: the document is encrypted before a byte
reaches the disk, the encrypted file is written to a temporary file of its own folder (created
0600 with O_EXCL) and renamed over the target. Keys: X25519 or SSH recipients (any one of
their identities decrypts), or a passphrase (age's scrypt), read from a variable, never argv.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from nova_config.errors import BackupFileError, FileReadError, MissingExtraError, UsageError
from nova_config.hidden import HiddenDict, HiddenList, HiddenStr
from nova_config.sources.fileread import read_bytes, read_text

FORMAT = "nova-config-backup/1"
STORES = ("vault", "aws")
MAX_BACKUP_BYTES = 256 * 1024 * 1024
MAX_KEY_FILE_BYTES = 64 * 1024
AGE_MAGIC = (b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----")


class Entry(NamedTuple):
    """One key of one version at one place; its repr never shows the value."""

    store: str
    location: str
    key: str
    version: str | None
    created: str | None
    metadata: dict[str, Any]
    value: Any
    environments: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Entry({self.store} {self.location}#{self.key} v{self.version})"

    def document(self) -> dict[str, Any]:
        """The entry as the file holds it (hidden from repr: it holds the value)."""
        fields = self._asdict()
        fields["environments"] = list(self.environments)
        return HiddenDict(fields)


class Backup(NamedTuple):
    """A whole backup: who made it, when, for which environments, and its entries."""

    settings: str
    created: str
    environments: tuple[str, ...]
    entries: tuple[Entry, ...]


class Key(NamedTuple):
    """How to encrypt or decrypt: recipients, identities, or a passphrase (never shown)."""

    recipients: tuple[Any, ...] = ()
    identities: tuple[Any, ...] = ()
    passphrase: HiddenStr | None = None

    def __repr__(self) -> str:
        kind = "passphrase" if self.passphrase else f"{len(self.recipients)} recipient(s)"
        return f"Key({kind if not self.identities else f'{len(self.identities)} identities'})"


def pyrage_module() -> Any:
    """pyrage, imported only when a backup is made or read."""
    try:
        import pyrage  # type: ignore[import-untyped]  # noqa: PLC0415 - only backup and restore need it
    except ImportError:
        raise MissingExtraError(
            "backup and restore need pyrage: pip install 'nova-config[backup]'"
        ) from None
    return pyrage


def now_text() -> str:
    """The time now, RFC 3339 with its offset (as doctor reads a manifest's `time`)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _lines(path: str, what: str) -> list[str]:
    try:
        text = read_text(path, MAX_KEY_FILE_BYTES)
    except FileReadError as exc:
        raise UsageError(f"{what}: {exc}") from None
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def recipients_key(recipients: Iterable[str], files: Iterable[str]) -> Key:
    """The recipients of `--recipient` and the lines of `--recipients-file` (age1..., ssh-...).

    Raises:
        UsageError: a recipient is not one, or a file cannot be read.
    """
    pyrage = pyrage_module()
    texts = [*recipients, *(line for path in files for line in _lines(path, "--recipients-file"))]
    parsed = []
    for text in texts:
        kind = pyrage.ssh if text.startswith("ssh-") else pyrage.x25519
        try:
            parsed.append(kind.Recipient.from_str(text))
        except Exception:  # pyrage.RecipientError and ValueError: the text is public
            raise UsageError(f"not an age or SSH recipient: {text[:80]}") from None
    if not parsed:
        raise UsageError("no recipient given (--recipient, --recipients-file)")
    return Key(recipients=tuple(parsed))


def identity_key(path: str) -> Key:
    """The age identities (AGE-SECRET-KEY-1...) of a key file, as `age-keygen` writes it."""
    pyrage = pyrage_module()
    identities: HiddenList[Any] = HiddenList()
    for line in _lines(path, "--identity"):
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except Exception:  # never chained nor quoted: the line is a private key
            raise UsageError(
                f"--identity {path} holds a line that is not an age identity"
            ) from None
    if not identities:
        raise UsageError(f"--identity {path} holds no age identity")
    return Key(identities=tuple(identities))


def passphrase_key(environ: Mapping[str, str], variable: str) -> Key:
    """The passphrase held by `variable` (never an argument: argv is visible to every user)."""
    passphrase = HiddenStr(environ.get(variable, ""))
    if not passphrase:
        raise UsageError(f"--passphrase-env {variable}: that variable is not set or is empty")
    return Key(passphrase=passphrase)


def encrypt(document: Mapping[str, Any], key: Key) -> bytes:
    """The document as compact JSON, encrypted in memory; the plaintext never leaves it."""
    pyrage = pyrage_module()
    plain = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        if key.passphrase:
            return bytes(pyrage.passphrase.encrypt(plain, key.passphrase))
        return bytes(pyrage.encrypt(plain, list(key.recipients)))
    finally:
        del plain


def decrypt(data: bytes, key: Key, shown: str) -> HiddenStr:
    """The plaintext of an age file, as text.

    Raises:
        BackupFileError: not an age file, or it cannot be decrypted with this key (a wrong
            identity or passphrase, a file tampered with or truncated).
    """
    pyrage = pyrage_module()
    if not data.startswith(AGE_MAGIC):
        raise BackupFileError(f"{shown} is not an age-encrypted file")
    failure = ""
    try:
        if key.passphrase:
            plain = pyrage.passphrase.decrypt(data, key.passphrase)
        else:
            plain = pyrage.decrypt(data, list(key.identities))
        return HiddenStr(bytes(plain).decode("utf-8"))
    except UnicodeDecodeError:
        failure = "its content is not UTF-8 text"
    except Exception as exc:  # pyrage.DecryptError; its text names the cause, never the content
        text = str(exc).lower()
        if "no matching" in text or "passphrase" in text or "no identity" in text:
            failure = "no identity given matches it (wrong --identity or passphrase)"
        else:
            failure = "it cannot be decrypted (damaged, truncated, or a different kind of key)"
    raise BackupFileError(f"{shown}: {failure}")


def read_backup(path: str) -> bytes:
    """A backup file's bytes, through the one guarded file read."""
    try:
        return read_bytes(path, MAX_BACKUP_BYTES)
    except FileReadError as exc:
        raise BackupFileError(str(exc)) from None


def document_of(backup: Backup) -> dict[str, Any]:
    """The JSON document of a backup."""
    return HiddenDict(
        format=FORMAT,
        created=backup.created,
        settings=backup.settings,
        environments=list(backup.environments),
        entries=HiddenList(entry.document() for entry in backup.entries),
    )


def _entry(item: object, number: int) -> Entry:
    """One entry, checked; the message names the entry's number, never its content."""
    bad = BackupFileError(f"entry {number} is malformed")
    if not isinstance(item, dict):
        raise bad
    texts = [item.get(name) for name in ("store", "location", "key")]
    if not all(isinstance(text, str) and text for text in texts) or item["store"] not in STORES:
        raise bad
    optional = [item.get(name) for name in ("version", "created")]
    if not all(value is None or isinstance(value, str) for value in optional):
        raise bad
    environments = item.get("environments", [])
    metadata = item.get("metadata", {})
    if "value" not in item or not isinstance(metadata, dict) or not isinstance(environments, list):
        raise bad
    return Entry(
        item["store"],
        item["location"],
        item["key"],
        item.get("version"),
        item.get("created"),
        metadata,
        item["value"],
        tuple(str(name) for name in environments),
    )


def parse(text: str, shown: str) -> Backup:
    """The backup in a decrypted document, every entry checked before anything is used.

    Raises:
        BackupFileError: not JSON, another format or version, or a malformed entry.
    """
    try:
        document = json.loads(text, object_pairs_hook=HiddenDict)
    except ValueError:  # never chained: the decode error quotes the text around the fault
        document = None
    if not isinstance(document, dict):
        raise BackupFileError(f"{shown} does not hold a JSON object")
    found = document.get("format")
    if found != FORMAT:
        what = f"format {str(found)[:40]!r}" if isinstance(found, str) else "no format"
        raise BackupFileError(f"{shown} has {what}, not {FORMAT}")
    entries = document.get("entries")
    environments = document.get("environments")
    if not isinstance(entries, list) or not isinstance(environments, list):
        raise BackupFileError(f"{shown} has no entries list")
    return Backup(
        str(document.get("settings", "")),
        str(document.get("created", "")),
        tuple(str(name) for name in environments),
        tuple(_entry(item, number) for number, item in enumerate(entries, start=1)),
    )


def _rank(entry: Entry) -> tuple[int, str]:
    """Which of two entries of one key is newer: Vault's version number, AWS's creation."""
    if entry.store == "vault" and entry.version is not None and entry.version.isdecimal():
        return int(entry.version), entry.created or ""
    current = "AWSCURRENT" in (entry.metadata.get("version_stages") or ())
    return int(current), entry.created or ""


def newest(entries: Iterable[Entry]) -> dict[tuple[str, str, str], Entry]:
    """The newest entry of each (store, location, key): what a restore writes."""
    chosen: dict[tuple[str, str, str], Entry] = HiddenDict()
    for entry in entries:
        place = (entry.store, entry.location, entry.key)
        if place not in chosen or _rank(entry) > _rank(chosen[place]):
            chosen[place] = entry
    return chosen


__all__ = [
    "FORMAT",
    "Backup",
    "Entry",
    "Key",
    "decrypt",
    "document_of",
    "encrypt",
    "identity_key",
    "newest",
    "now_text",
    "parse",
    "passphrase_key",
    "read_backup",
    "recipients_key",
]
