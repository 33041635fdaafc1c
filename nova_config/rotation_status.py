"""How old each secret is: when its current version was created, and whether it is overdue.

A version's creation time comes from its store: Vault KV v2's `created_time` (one metadata read
per path), AWS's `CreatedDate` (one `ListSecretVersionIds` per secret), a secret file's
modification time. Environment variables and `.env` lines have no age; nor has a default.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from nova_config.errors import SettingsError
from nova_config.hidden import HiddenEnviron
from nova_config.probes import AwsProbe, VaultProbe
from nova_config.sources.base import LoadContext

if TYPE_CHECKING:
    from nova_config.provenance import Provenance
    from nova_config.settings import SecretSettings

DEFAULT_MAX_AGE = timedelta(days=90)  # the checklist's quarterly rotation
STATUSES = ("ok", "overdue", "unknown")
_NO_AGE = {
    "env": "environment variables have no age",
    "dotenv": ".env lines have no age",
    "init": "keyword arguments have no age",
    "default": "a default value has no age",
}


class SecretAge(NamedTuple):
    """One secret field's place, version, creation time, age and status; never its value."""

    field: str
    variable: str
    source: str | None
    location: str | None
    version: str | None
    created: datetime | None
    age: timedelta | None
    status: str  # one of STATUSES
    note: str | None = None  # why the status is unknown


class _Creation:
    """Creation times of versions, asking each store at most once per path or secret."""

    def __init__(self, settings: SecretSettings) -> None:
        record = settings.resolution
        self.context = LoadContext(
            record.environment, HiddenEnviron(os.environ), type(settings).__nova_plans__
        )
        self._vault: VaultProbe | None = None
        self._aws: AwsProbe | None = None
        self._seen: dict[tuple[str, str, str], datetime | None] = {}

    def of(self, origin: Provenance) -> datetime | None:
        """When the version a field came from was created (None when its store cannot say).

        Raises:
            SettingsError: the store could not be asked (unreachable, denied, misconfigured).
        """
        if origin.source == "files":
            # `path` or `path (from NAME_FILE)`: the file's modification time.
            path = origin.location.partition(" (from ")[0]
            try:
                return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
            except OSError:
                return None
        place = origin.location.rpartition("#")[0]
        if origin.version is None or origin.source not in ("vault", "aws") or not place:
            return None
        key = (origin.source, place, origin.version)
        if key not in self._seen:
            self._seen[key] = self._ask(origin.source, place, origin.version)
        return self._seen[key]

    def _ask(self, source: str, place: str, version: str) -> datetime | None:
        if source == "aws":
            self._aws = self._aws or AwsProbe(self.context)
            return self._aws.created(place, version)
        self._vault = self._vault or VaultProbe(self.context)
        return self._vault.created(place.removeprefix(self._vault.config.mount + "/"), version)


def _age_of(origin: Provenance | None, creation: _Creation) -> tuple[datetime | None, str | None]:
    """A field's creation time, or why it has none."""
    if origin is None:
        return None, "missing"
    if origin.source in _NO_AGE:
        return None, _NO_AGE[origin.source]
    try:
        created = creation.of(origin)
    except SettingsError as exc:  # its message never holds a value
        return None, str(exc)
    if created is None:
        return None, f"{origin.source} gives no creation time for this version"
    return created, None


def rotation_status(
    settings: SecretSettings, max_age: timedelta = DEFAULT_MAX_AGE, *, now: datetime | None = None
) -> list[SecretAge]:
    """Each secret field's age and status: `overdue` when older than `max_age`.

    Args:
        settings: loaded settings (their provenance names each value's place and version).
        max_age: the oldest a secret may be before it is overdue.
        now: the time ages are counted to (default now, UTC).

    Returns:
        One SecretAge per secret field, in the model's order; `unknown` where no age is known.
    """
    now = now or datetime.now(UTC)
    creation = _Creation(settings)
    provenance = settings.resolution.provenance
    ages: list[SecretAge] = []
    for plan in type(settings).__nova_plans__:
        if not plan.secret:
            continue
        origin = provenance.get(plan.name)
        created, note = _age_of(origin, creation)
        age = now - created if created is not None else None
        status = "unknown" if age is None else "overdue" if age > max_age else "ok"
        ages.append(
            SecretAge(
                field=plan.name,
                variable=plan.variable,
                source=origin.source if origin else None,
                location=origin.location if origin else None,
                version=origin.version if origin else None,
                created=created,
                age=age,
                status=status,
                note=note,
            )
        )
    return ages


__all__ = ["DEFAULT_MAX_AGE", "STATUSES", "SecretAge", "rotation_status"]
