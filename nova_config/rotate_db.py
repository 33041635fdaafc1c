"""`nova-config rotate timescale_password --database`: the password in the store and the role's
password in the database changed together, in AWS's four steps, resumable, never locking out.

1. create: the new value is staged in the store as pending, beside the current one, where the
   app never reads it (`Store.stage`: Vault `<key>__pending`, AWS `AWSPENDING`);
2. set: `ALTER ROLE` on a connection made with the current password (`Database.set_password`);
3. test: a new connection with the new password;
4. finish: the pending value is promoted to current (`Store.promote`).

A failure in a step leaves the old password working in the database and served by the store
(the database's password set back, the pending value removed), or, where that cannot be made
sure, both passwords where a second run finds them. Every run first settles what an earlier
one left (`begin`): a pending value that the database already takes is promoted; one it does
not take is removed. A pending value is removed only when the database takes the current one.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, NamedTuple

from nova_config.errors import SettingsError
from nova_config.hidden import HiddenStr
from nova_config.rotate import TITLE, Staged, conflict, refused
from nova_config.rotate_db_job import Done, Job, prepare, record
from nova_config.rotate_postgres import REFUSED

if TYPE_CHECKING:
    import psycopg

STEPS = ("create", "set", "test", "finish")
KEPT = "the old password still works in the database and the store still serves it"


class Begun(NamedTuple):
    """What `begin` found: the store's state to rotate from, or the earlier rotation it
    finished; `rolled_back` when it removed an earlier pending value."""

    staged: Staged
    done: Done | None = None
    rolled_back: bool = False


# --- the four steps: each one call, each bounded in time ---------------------------------------


def create(job: Job, staged: Staged, candidate: str) -> Staged:
    """Stage `candidate` in the store as pending; the app still reads the current value."""
    return job.store.stage(staged, candidate)


def set_password(job: Job, session: psycopg.Connection[Any], candidate: str) -> None:
    """`ALTER ROLE` on `session`, a connection made with the current password."""
    job.database.set_password(session, candidate)


def test_password(job: Job, candidate: str) -> None:
    """A new connection with `candidate`; RotationError when the database refuses it."""
    if not job.database.accepts(candidate):
        raise job.database.failure(REFUSED, "connecting with the new password")


def finish(job: Job, staged: Staged) -> str:
    """Promote the pending value to current; the version now served."""
    return job.store.promote(staged)


# --- a run ------------------------------------------------------------------------------------


def begin(job: Job) -> Begun:
    """Read the store and settle what an earlier run left: promote a pending value that the
    database takes, or remove one it does not while it takes the current one.

    Raises:
        RotationError: the database takes neither value, or not the current one; or it
            cannot be reached (nothing is changed then).
        RotationConflictError: the store changed since the load read it.
        SourceError: the store cannot be read or written.
    """
    staged = job.store.read()
    if staged.version != job.target.origin.version:
        raise conflict(f"{job.target.origin.location} changed since it was read; run again")
    database, pending = job.database, staged.pending
    if pending is not None:
        if pending == staged.current or database.accepts(pending):
            try:
                version = finish(job, staged)
            except SettingsError as exc:
                state = "the database takes the pending password: run again to finish"
                raise _failed(job, "finish", exc, state) from None
            return Begun(staged, record(job, version, "finish", "resumed"))
        if database.accepts(staged.current):
            staged = job.store.discard(staged)
            record(job, None, "create", "rolled_back")
            return Begun(staged, rolled_back=True)
        raise refused(
            f"database at {database.shown} takes neither the password the store serves nor "
            "the pending one; nothing was changed"
        )
    if not database.accepts(staged.current):
        raise refused(
            f"database at {database.shown} refuses the password the store serves, as it "
            "would the app's; nothing was changed"
        )
    return Begun(staged)


def rotate_database(job: Job, staged: Staged, candidate: str) -> Done:
    """Create, set, test and finish; on a failure, leave the old password working.

    Args:
        job: the rotation, from `prepare`.
        staged: the store's state from `begin`, nothing pending.
        candidate: the new password, validated by the model.

    Raises:
        RotationError (or the store's SourceError): a step failed; the message names it, its
            cause, and what was left where.
    """
    candidate = HiddenStr(candidate)  # this frame's local, as error trackers record it
    run = _Run(job, staged, candidate)
    try:
        failure = run.steps()
    finally:
        run.close()
    if failure is not None:
        raise failure
    return record(job, run.version, "finish", "rotated")


class _Run:
    """One rotation's steps in order, and what is left to undo when one fails.

    The session made with the current password for `set` stays open until the end: if the
    new password does not work, it is the one way left to set the old one back.
    """

    def __init__(self, job: Job, staged: Staged, candidate: str) -> None:
        self.job, self.staged = job, staged
        self.candidate = HiddenStr(candidate)
        self.session: psycopg.Connection[Any] | None = None
        self.version: str | None = None
        self.unknown = False  # the store could not be read after a failed promotion

    def steps(self) -> SettingsError | None:
        """Run the steps; the first failure, audited and worded, or None."""
        for name in STEPS:
            try:
                self.step(name)
            except SettingsError as exc:
                return _failed(self.job, name, exc, self.recover(name))
        return None

    def step(self, name: str) -> None:
        job, candidate = self.job, self.candidate
        if name == "create":
            self.staged = create(job, self.staged, candidate)
        elif name == "set":
            self.session = job.database.connect(self.staged.current)
            set_password(job, self.session, candidate)
        elif name == "test":
            test_password(job, candidate)
        else:
            self.version = self._finish()

    def _finish(self) -> str | None:
        """Promote; when that fails, the store read again: an answer lost after the write
        left it serving the new value, and the rotation is done."""
        try:
            return finish(self.job, self.staged)
        except SettingsError as exc:
            failed = exc
        try:
            now = self.job.store.read()
        except SettingsError:
            self.unknown = True
            raise failed from None
        if now.current != self.candidate:
            self.staged = now  # what to remove the pending value from
            raise failed from None
        if now.pending is not None:  # AWS: AWSCURRENT moved, AWSPENDING left on it
            with contextlib.suppress(SettingsError):
                finish(self.job, now)
        return now.version

    def recover(self, name: str) -> str:
        """Undo what the steps before `name` did, where that is safe; what is left, in words."""
        if name == "create":
            return (
                "the database was not changed (a pending value written all the same is removed "
                "by the next run)"
            )
        if self.unknown:
            return (
                "the store cannot be read to tell whether it serves the new password, which the "
                "database takes: run again to finish"
            )
        restored = self._set_back()
        if restored is None:
            return (
                "the database cannot be reached to tell which password it takes; the store "
                "still serves the old one and keeps the new one as pending: run again to finish "
                "or roll back"
            )
        if not restored:
            return (
                "the old password could not be set back in the database, and the store keeps "
                "the new one as pending: run again to finish"
            )
        return self._remove_pending()

    def _remove_pending(self) -> str:
        """Once the database takes the current password: remove the pending value."""
        if self.staged.pending is not None:  # else removed by someone else meanwhile
            try:
                self.job.store.discard(self.staged)
            except SettingsError:
                return f"{KEPT}; the pending value stays in the store, and the next run removes it"
        return KEPT

    def _set_back(self) -> bool | None:
        """Whether the database takes the current password again (set back if need be);
        None when it cannot be reached to tell."""
        database, current = self.job.database, self.staged.current
        try:
            if database.accepts(current):
                return True
        except SettingsError:
            return None
        if not self._set_current(self.session):
            with contextlib.suppress(SettingsError), database.connect(self.candidate) as session:
                self._set_current(session)
        try:
            return database.accepts(current)
        except SettingsError:
            return False

    def _set_current(self, session: psycopg.Connection[Any] | None) -> bool:
        if session is None or session.closed:
            return False
        try:
            self.job.database.set_password(session, self.staged.current)
        except SettingsError:
            return False
        return True

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _failed(job: Job, step: str, error: SettingsError, state: str) -> SettingsError:
    """A step's failure, audited: the step, its cause, and what was left where."""
    record(job, None, step, "failed")
    causes = "; ".join(p.message for p in error.problems)
    return type(error)(f"step {step} failed: {causes}; {state}", title=TITLE)


__all__ = [
    "STEPS",
    "Begun",
    "Done",
    "Job",
    "begin",
    "create",
    "finish",
    "prepare",
    "rotate_database",
    "set_password",
    "test_password",
]
