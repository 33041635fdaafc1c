"""For the safety tests: calls bounded in time (a load that blocks fails the test instead of
hanging the suite), and validators that carelessly quote the secret they reject."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import Secret, SecretStr, field_validator

from nova_config import SecretSettings

T = TypeVar("T")

# Generous: every load the tests bound ends in milliseconds; a load that blocks never ends.
LIMIT = 10.0


def within(
    seconds: float, call: Callable[[], T], *, unblock: Callable[[], None] = lambda: None
) -> T:
    """Run `call` on a thread and return its result; fail the test if it is still running after
    `seconds`, instead of hanging the suite (`unblock` then frees the thread if it can)."""
    outcome: list[T] = []
    raised: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # re-raised on the test's own thread
            raised.append(exc)

    thread = threading.Thread(target=run, name="bounded-load", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(2.0)
        raise AssertionError(f"the call did not return within {seconds:g} s: something blocked it")
    if raised:
        raise raised[0]
    return outcome[0]


def release_fifos(folder: Path) -> Callable[[], None]:
    """A function that opens, for writing, every FIFO under `folder`: a reader blocked in
    open() then wakes up and reads the end of the file."""

    def release() -> None:
        for path in folder.rglob("*"):
            if stat.S_ISFIFO(path.lstat().st_mode):
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue  # no reader is waiting on this one
                os.close(fd)

    return release


# --- validators that quote the secret they reject ------------------------------------------------

# How `revoked` quotes the value; a test sets the form it checks (monkeypatch.setitem).
QUOTING: dict[str, Callable[[str], str]] = {"form": str}


def revoked(text: str) -> ValueError:
    """The careless error of a subclass's validator: it quotes the value, in the test's form."""
    return ValueError(f"token {QUOTING['form'](text)} is revoked")


class QuotingAfter(SecretSettings):
    """A validator (mode "after") of a SecretStr that quotes the secret."""

    api_token: SecretStr

    @field_validator("api_token", mode="after")
    @classmethod
    def _reject(cls, value: SecretStr) -> SecretStr:
        raise revoked(value.get_secret_value())


class QuotingBefore(SecretSettings):
    """A validator (mode "before") that quotes the raw value, surrounding whitespace and all."""

    api_token: SecretStr

    @field_validator("api_token", mode="before")
    @classmethod
    def _reject(cls, value: object) -> object:
        raise revoked(str(value))


class QuotingWrapped(SecretSettings):
    """A `pydantic.Secret[str]` field (no secret() marker) whose validator quotes the secret."""

    api_token: Secret[str]

    @field_validator("api_token", mode="after")
    @classmethod
    def _reject(cls, value: Secret[str]) -> Secret[str]:
        raise revoked(value.get_secret_value())
