"""Rotation of one secret: find the store that serves it, validate the new value, write it there.

The steps return what the next one needs, so none depends on another having run before it:
`locate` loads the settings once and returns the `Target` (the field, its store, its place and
the version read), and `locate_loaded` the settings built by that load as well (a database
rotation connects with them, `rotate_db.py`); `validate` builds the model with the candidate;
`write` changes that one key in that store and returns the `Rotation` (old and new version);
`audit_rotation` writes the `secret_rotated` event. `rotate_cli.py` runs them in that order,
reading the value and asking for confirmation in between. No step ever shows, logs or records
a value.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from typing import Any, NamedTuple

from nova_config.errors import RotationConflictError, RotationError, SettingsError, UsageError
from nova_config.fields import FieldPlan
from nova_config.hidden import HiddenEnviron, HiddenStr
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.settings import SecretSettings
from nova_config.sources.adapter import input_key

audit_logger = logging.getLogger("nova_config.audit")

STORES = ("vault", "aws")
AUDIT_LOG = "NOVA_AUDIT_LOG"
TITLE = "not rotated"


def refused(message: str) -> RotationError:
    """A `RotationError` with one problem (the message names the cause and the place)."""
    return RotationError(message, title=TITLE)


def conflict(message: str) -> RotationConflictError:
    """A `RotationConflictError` with one problem."""
    return RotationConflictError(message, title=TITLE)


class Target(NamedTuple):
    """Where one field's value is kept, as a load found it; it holds no value.

    Attributes:
        settings: the settings class.
        plan: the field's plan (name, variable).
        origin: the field's provenance: the store, `mount/path#key` or `secret_id#key`, and the
            version the load read.
        environment: the environment of the load.
    """

    settings: type[SecretSettings]
    plan: FieldPlan
    origin: Provenance
    environment: str

    @property
    def settings_name(self) -> str:
        return f"{self.settings.__module__}:{self.settings.__qualname__}"


class Rotation(NamedTuple):
    """A rotation done: where the new value went, the version replaced and the one written."""

    field: str
    variable: str
    store: str
    location: str
    old_version: str | None
    new_version: str | None

    def describe(self) -> str:
        """One line for people, e.g. `rotated X in secret/app/staging#x: version 3 -> 4`."""
        where = f"rotated {self.variable} in {self.location}"
        if self.old_version is None and self.new_version is None:
            return f"{where} (KV v1 keeps no versions)"
        return f"{where}: version {self.old_version or '-'} -> {self.new_version or '-'}"


class Staged(NamedTuple):
    """One key in its store during a database rotation: the value served, and the one pending.

    The values are `HiddenStr`, so the tuple's repr shows none of them.

    Attributes:
        current: the value the app reads now.
        version: the version that serves it (Vault: the path's KV v2 version; AWS: the
            VersionId of AWSCURRENT).
        pending: the new value a rotation has staged and not yet promoted, or None.
        pending_version: the version that holds it (Vault: the same as `version`, the pending
            value being a key beside the current one; AWS: the VersionId of AWSPENDING).
    """

    current: HiddenStr
    version: str | None
    pending: HiddenStr | None = None
    pending_version: str | None = None


def find_plan(cls: type[SecretSettings], field: str) -> FieldPlan:
    """The secret field named `field` (its name or its variable, in any case).

    Raises:
        UsageError: the model has no such field, or it is not a secret.
    """
    wanted = field.strip().lower()
    for plan in cls.__nova_plans__:
        if wanted in (plan.name.lower(), plan.variable.lower()):
            if not plan.secret:
                raise UsageError(f"{plan.variable} is not a secret; rotate changes secrets only")
            return plan
    names = ", ".join(p.variable for p in cls.__nova_plans__ if p.secret) or "none"
    raise UsageError(f"{cls.__name__} has no setting {field!r} (its secrets: {names})")


def _record_of(
    cls: type[SecretSettings],
) -> tuple[ResolutionRecord, SecretSettings | SettingsError]:
    """The record of one load, and the settings it built or the error of their values: a load
    that failed on values only still says where each was."""
    try:
        settings = cls()
    except SettingsError as exc:
        failed = exc
    else:
        return settings.resolution, settings
    # Invalid or missing values (problems naming a variable) leave the record whole, and an
    # invalid current value is what a rotation may be for; a store that failed does not.
    stores = [p for p in failed.problems if p.variable is None]
    if failed.resolution is None:
        raise failed
    if stores:
        # Only the stores' causes: the fields they would have served are missing because of them.
        raise SettingsError(stores, title=TITLE, resolution=failed.resolution)
    return failed.resolution, failed


def locate(cls: type[SecretSettings], field: str) -> Target:
    """Load the settings once, as the app would in this environment, and find the field's store.

    Raises:
        UsageError, SettingsError: as `locate_loaded`.
    """
    return locate_loaded(cls, field)[0]


def locate_loaded(
    cls: type[SecretSettings], field: str
) -> tuple[Target, SecretSettings | SettingsError]:
    """`locate`, also returning the settings that load built, or the error of their values
    (the current value is invalid, another field is missing).

    Raises:
        UsageError: no such secret, or it is not served by Vault or AWS Secrets Manager.
        SettingsError: the load failed for another reason than the values (a store could not
            be read, its configuration is invalid); or the field is not served by a store
            while a store could not be read, so where it is kept is unknown.
    """
    plan = find_plan(cls, field)
    record, settings = _record_of(cls)
    origin = record.provenance.get(plan.name)
    if origin is not None and origin.source in STORES:
        return Target(cls, plan, origin, record.environment), settings
    if record.failed:
        causes = "; ".join(record.failed.values())
        raise SettingsError(
            f"{causes}; so where {plan.variable} is kept in {record.environment} is unknown",
            title=TITLE,
        )
    if origin is None or origin.source == "default":
        raise UsageError(
            f"{plan.variable} is not set in {record.environment}; rotate replaces a value that "
            "Vault or AWS Secrets Manager already holds"
        )
    raise UsageError(
        f"{plan.variable} is served from {origin.source} ({origin.location}) in "
        f"{record.environment}, not from Vault or AWS Secrets Manager; change it where it is "
        "kept"
    )


def validate(target: Target, candidate: str) -> None:
    """Build the model with the candidate as the field's keyword argument, in this environment.

    Raises:
        RotationError: the model refuses the candidate (the message says why, never the value).
        SettingsError: the load failed for another reason (a store could not be read).
    """
    candidate = HiddenStr(candidate)  # this frame's local, as error trackers record it
    cls, plan = target.settings, target.plan
    try:
        cls(**{input_key(plan.name, cls.model_fields[plan.name]): candidate})
    except SettingsError as exc:
        failed = exc
    else:
        return
    # Raised outside the except block: the load's error is not the context of the refusal.
    own = [p.message for p in failed.problems if p.variable == plan.variable]
    if own:
        why = "; ".join(m.partition(" is invalid: ")[2] or m for m in own)
        raise refused(f"the new value of {plan.variable} is invalid: {why}")
    if any(p.variable is None for p in failed.problems):
        raise failed
    # Only other fields are invalid or missing, as they were when the target was located.


def write(target: Target, candidate: str) -> Rotation:
    """Write the candidate to the field's key in its store, the other keys left as they are.

    Raises:
        RotationConflictError: the secret changed since the load read it.
        SourceError: the store cannot be reached, or the credentials may not write (the
            message names the missing capability or IAM action).
        SettingsError: the store's configuration is invalid.
    """
    candidate = HiddenStr(candidate)  # this frame's local, as error trackers record it
    origin = target.origin
    try:
        if origin.source == "vault":
            from nova_config.rotate_vault import write_vault  # noqa: PLC0415 - only for Vault

            old, new = write_vault(origin, candidate, target.environment)
        else:
            from nova_config.rotate_aws import write_aws  # noqa: PLC0415 - only for AWS

            old, new = write_aws(origin, candidate, target.environment)
    except SettingsError as exc:
        failed = exc
    else:
        return Rotation(
            target.plan.name, target.plan.variable, origin.source, origin.location, old, new
        )
    if failed.title != TITLE:
        # The stores' errors carry a load's title; the same error, titled as a rotation's.
        failed = type(failed)(failed.problems, title=TITLE)
    raise failed


# --- the audit event -------------------------------------------------------------------------


def audit_wanted() -> bool:
    """Whether rotations are audited: NOVA_AUDIT_LOG, or the audit logger enabled for INFO."""
    return bool(os.environ.get(AUDIT_LOG)) or audit_logger.isEnabledFor(logging.INFO)


def check_audit_log() -> None:
    """Open the audit log for appending, before anything is written, so a rotation that could
    not be audited is refused up front.

    Raises:
        RotationError: NOVA_AUDIT_LOG names a file that cannot be opened for appending, or
            that is not a regular file.
    """
    path = os.environ.get(AUDIT_LOG)
    if not path:
        return
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    except OSError as exc:
        cause = exc.strerror or type(exc).__name__
        raise refused(f"the audit log {path} ({AUDIT_LOG}) cannot be written: {cause}") from None
    if not regular:
        raise refused(f"the audit log {path} ({AUDIT_LOG}) is not a regular file")


def audit_rotation(
    target: Target, rotation: Rotation, extra: Mapping[str, Any] | None = None
) -> None:
    """Write the `secret_rotated` event to the audit log and the audit logger, when either is on.

    The rotation is done by then: an audit log that cannot be written is logged as an error
    (`record_event`), not raised; `check_audit_log` refuses such a log before the write.

    Args:
        target: the field rotated.
        rotation: where, and the versions.
        extra: more keys after the rotation's (a database rotation's step and outcome); never
            a value.
    """
    if not audit_wanted():
        return
    from nova_config.audit import record_event  # noqa: PLC0415 - only when audit is on

    own = {"event": "secret_rotated", **rotation._asdict(), **(extra or {})}
    record_event(target.settings_name, target.environment, HiddenEnviron(os.environ), own)


__all__ = [
    "Rotation",
    "Staged",
    "Target",
    "audit_rotation",
    "audit_wanted",
    "check_audit_log",
    "conflict",
    "find_plan",
    "locate",
    "locate_loaded",
    "refused",
    "validate",
    "write",
]
