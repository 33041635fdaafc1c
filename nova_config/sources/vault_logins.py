"""Vault logins kept for the process: one per credential, shared by threads, not by forks.

A login costs a request and a TCP connection costs a handshake; both would otherwise repeat on
every load. The cache is keyed by address, TLS settings, namespace and a digest of the
credentials, keeps the most recent `MAX_LOGINS`, and is emptied in a forked child.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import hvac
    import requests

MAX_LOGINS = 8


class Login(NamedTuple):
    """An authenticated client kept for the process, with when its token expires."""

    client: hvac.Client
    expires: float | None  # time.monotonic() deadline, None when the token does not expire
    renewable: bool
    # The KV reads, prepared once per client: building a request in requests (cookies, merged
    # settings, header checks) costs about as much as a read from a nearby server.
    prepared: dict[str, requests.PreparedRequest]


# One authenticated client per (address, TLS, namespace, credentials): a login costs a
# request and a TCP connection costs a handshake, and both would otherwise repeat every load.
_logins: dict[tuple[object, ...], Login] = {}
_logins_lock = threading.Lock()
# One lock per credential, so that concurrent first loads share one login (single flight): a
# single-use AppRole secret_id allows no second one, and every extra login leaves a token behind.
_login_locks: dict[tuple[object, ...], threading.Lock] = {}


def _forget_logins_in_child() -> None:
    # A forked worker must start with its own session: through the parent's pooled socket, the
    # answers to two processes' requests cross (one environment's secrets reach the other).
    # Nothing is closed: the sockets are the parent's too. Locks held at the fork are replaced.
    global _logins_lock  # noqa: PLW0603 - rebinding is the point: the old lock may be held
    _logins.clear()
    _login_locks.clear()
    _logins_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_logins_in_child)


def keep(key: tuple[object, ...], login: Login) -> Login:
    """Cache a login; the oldest go first, since a rotated Kubernetes JWT makes a new key."""
    with _logins_lock:
        _logins.pop(key, None)
        _logins[key] = login
        while len(_logins) > MAX_LOGINS:
            _logins.pop(next(iter(_logins))).client.adapter.close()
    return login


def fresh(login: Login) -> bool:
    return login.expires is None or time.monotonic() < login.expires


def forget_logins() -> None:
    """Close and drop every cached Vault client (their tokens are not revoked)."""
    with _logins_lock:
        while _logins:
            _logins.popitem()[1].client.adapter.close()


def cached(key: tuple[object, ...]) -> Login | None:
    """The login kept for `key`, if any (fresh or not)."""
    with _logins_lock:
        return _logins.get(key)


def drop(key: tuple[object, ...], login: Login) -> None:
    """Forget a login found revoked, if it is still the one kept, and close its client."""
    with _logins_lock:
        if _logins.get(key) is login:
            del _logins[key]
    login.client.adapter.close()


def lock_for(key: tuple[object, ...]) -> threading.Lock:
    """The lock one credential's logins are made under (single flight)."""
    with _logins_lock:
        return _login_locks.setdefault(key, threading.Lock())


__all__ = ["MAX_LOGINS", "Login", "cached", "drop", "forget_logins", "fresh", "keep", "lock_for"]
