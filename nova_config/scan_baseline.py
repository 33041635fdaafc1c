"""Fingerprints of found secrets (salted scrypt) and the baseline file that accepts some of them.

A fingerprint is never a plain hash of a secret: a short password's plain hash is reversed by
a dictionary in seconds. It is scrypt (n=2**14, r=8, p=1) with a random salt kept in the
baseline, so a baseline shows neither a secret nor a hash that a precomputed table reverses.
Each distinct secret costs one scrypt per run (about 40 ms; cached, and several at once on
threads, as hashlib releases the GIL for it).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nova_config.errors import FileReadError, UsageError
from nova_config.sources.fileread import read_text

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
FINGERPRINT_BYTES = 16
MAX_BASELINE_BYTES = 16 * 1024 * 1024
# The baseline `scan` (and `doctor`) use at a scanned folder's root when none is named.
DEFAULT_BASELINE = ".nova-scan-baseline.json"
BASELINE_VERSION = 1


class Fingerprints:
    """The fingerprints of one run: one salt, each distinct secret hashed once."""

    def __init__(self, salt: bytes | None = None) -> None:
        """Use the baseline's salt, or a new random one (fingerprints then hold for one run)."""
        self.salt = salt if salt is not None else secrets.token_bytes(16)
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Fingerprints({len(self._cache)} cached)"

    def _compute(self, secret: str) -> str:
        digest = hashlib.scrypt(
            secret.encode("utf-8", "surrogatepass"),
            salt=self.salt,
            dklen=FINGERPRINT_BYTES,
            maxmem=64 * 1024 * 1024,
            **SCRYPT,
        )
        return digest.hex()

    def compute(self, values: Iterable[str]) -> dict[str, str]:
        """The fingerprint of each secret, computed on threads for those not yet cached."""
        missing = sorted({v for v in values if v not in self._cache})
        if len(missing) == 1:
            self._cache[missing[0]] = self._compute(missing[0])
        elif missing:
            with ThreadPoolExecutor(max_workers=min(len(missing), os.cpu_count() or 1)) as pool:
                self._cache.update(zip(missing, pool.map(self._compute, missing), strict=True))
        return self._cache


class Baseline:
    """The accepted findings of a baseline file: (rule, path, fingerprint), and its salt."""

    def __init__(self, salt: bytes, accepted: set[tuple[str, str, str]]) -> None:
        """A baseline with this salt, accepting these (rule, path, fingerprint) entries."""
        self.salt = salt
        self.accepted = accepted

    def __repr__(self) -> str:
        return f"Baseline({len(self.accepted)} accepted)"

    @classmethod
    def new(cls) -> Baseline:
        """An empty baseline with a fresh random salt."""
        return cls(secrets.token_bytes(16), set())

    @classmethod
    def load(cls, path: str) -> Baseline:
        """Read a baseline file.

        Raises:
            UsageError: the file cannot be read, or is not a baseline of this version.
        """
        try:
            data: Any = json.loads(read_text(path, MAX_BASELINE_BYTES))
        except FileReadError as exc:
            raise UsageError(f"baseline {exc}") from None
        except ValueError:
            raise UsageError(f"baseline {path} is not JSON") from None
        try:
            if data["version"] != BASELINE_VERSION or data["kdf"] != {"name": "scrypt", **SCRYPT}:
                raise UsageError(f"baseline {path} was written by another version")
            salt = bytes.fromhex(data["salt"])
            accepted = {(e["rule"], e["path"], e["fingerprint"]) for e in data["findings"]}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UsageError(f"baseline {path} is not a nova-config scan baseline") from None
        if not all(isinstance(part, str) for entry in accepted for part in entry):
            raise UsageError(f"baseline {path} is not a nova-config scan baseline")
        return cls(salt, accepted)

    def write(self, path: str) -> None:
        """Write the baseline, sorted so that an unchanged one rewrites the same bytes."""
        findings = [
            {"rule": rule, "path": where, "fingerprint": fingerprint}
            for rule, where, fingerprint in sorted(self.accepted, key=lambda e: (e[1], e[0], e[2]))
        ]
        data = {
            "version": BASELINE_VERSION,
            "tool": "nova-config scan",
            "kdf": {"name": "scrypt", **SCRYPT},
            "salt": self.salt.hex(),
            "findings": findings,
        }
        temporary = f"{path}.tmp{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2) + "\n")
        os.replace(temporary, path)


__all__ = ["DEFAULT_BASELINE", "Baseline", "Fingerprints"]
