"""What a database rotation works on: the field's place, its store and the database (`Job`,
made by `prepare`), and what a run did (`Done`, audited by `record`)."""

from __future__ import annotations

import os
from typing import Any, NamedTuple, Protocol

from nova_config.errors import SettingsError, UsageError
from nova_config.hidden import HiddenEnviron
from nova_config.rotate import Rotation, Staged, Target, audit_rotation
from nova_config.rotate_postgres import Database

# The app's database: NovaSettings' `timescale_dsn()` logs in with `timescale_password`.
PASSWORD_FIELD = "timescale_password"  # noqa: S105 - a field's name, not a password
DSN_METHOD = "timescale_dsn"


class Store(Protocol):
    """A store's side of a database rotation (`VaultStore`, `AwsStore`)."""

    def read(self) -> Staged: ...
    def stage(self, staged: Staged, candidate: str) -> Staged: ...
    def promote(self, staged: Staged) -> str: ...
    def discard(self, staged: Staged) -> Staged: ...


class Job(NamedTuple):
    """One database rotation: the field's place, its store, and the database."""

    target: Target
    store: Store
    database: Database


class Done(NamedTuple):
    """A database rotation done: the store's rotation, the database, and whether this run
    did it all (`rotated`) or finished one an earlier run began (`resumed`)."""

    rotation: Rotation
    role: str
    database: str
    outcome: str

    def extra(self) -> dict[str, Any]:
        """`database` (always true), `role`, `server` and `outcome`: the keys of the output
        and of the audit event after the rotation's own."""
        server = self.database.partition("@")[2]
        return {"database": True, "role": self.role, "server": server, "outcome": self.outcome}

    def as_dict(self) -> dict[str, Any]:
        """The rotation's keys, then `extra`."""
        return {**self.rotation._asdict(), **self.extra()}

    def describe(self) -> str:
        """One line for people."""
        line = f"{self.rotation.describe()}; database {self.database}: "
        if self.outcome == "resumed":
            return f"{line}finished a rotation an earlier run began (the password was set)"
        return f"{line}password set and tested"


def prepare(target: Target, settings: Any) -> Job:
    """The database rotation of a located field, with the settings its load built.

    Raises:
        UsageError: not the database password, no `timescale_dsn()`, or a store that cannot
            stage a value (KV v1, NOVA_AWS_VERSION_STAGE set).
        SettingsError: the load failed on values, so the database is not known.
    """
    if target.plan.name != PASSWORD_FIELD or not callable(getattr(target.settings, DSN_METHOD, 0)):
        raise UsageError(
            f"--database rotates {PASSWORD_FIELD.upper()}, the password {DSN_METHOD}() of the "
            f"settings logs in with; {target.plan.variable} is not it"
        )
    if isinstance(settings, SettingsError):
        raise settings
    dsn = getattr(settings, DSN_METHOD)().get_secret_value()
    database = Database(dsn, HiddenEnviron(os.environ))
    origin, environment = target.origin, target.environment
    store: Store
    if origin.source == "vault":
        from nova_config.rotate_vault import VaultStore  # noqa: PLC0415 - only for Vault

        store = VaultStore(origin, environment)
    else:
        from nova_config.rotate_aws import AwsStore  # noqa: PLC0415 - only for AWS

        store = AwsStore(origin, environment)
    return Job(target, store, database)


def record(job: Job, new_version: str | None, step: str, outcome: str) -> Done:
    """A run's result (a failure's too: `new_version` None), audited as `secret_rotated`
    with `database: true`, the step it ended at and its outcome."""
    plan, origin, database = job.target.plan, job.target.origin, job.database
    rotation = Rotation(
        plan.name, plan.variable, origin.source, origin.location, origin.version, new_version
    )
    done = Done(rotation, database.role, database.shown, outcome)
    audit_rotation(job.target, rotation, {**done.extra(), "step": step})
    return done


__all__ = ["DSN_METHOD", "PASSWORD_FIELD", "Done", "Job", "Store", "prepare", "record"]
