"""Vault logins kept for the process: one per credential, shared by threads, not by forks.

A login costs a request and a TCP connection costs a handshake; both would otherwise repeat on
every load. The cache is keyed by address, TLS settings, namespace and a digest of the
credentials, keeps the most recent `MAX_LOGINS`, and is emptied in a forked child.

Beside it, for a cluster (VAULT_ADDR as a comma list), the node that last answered, tried first
by every later request of the process: kept and reset the same way.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, NamedTuple

from nova_config.sources.common import ClientCache

if TYPE_CHECKING:
    import hvac

MAX_LOGINS = 8


class Login(NamedTuple):
    """An authenticated client kept for the process, with when its token expires."""

    client: hvac.Client
    expires: float | None  # time.monotonic() deadline, None when the token does not expire
    renewable: bool


def _close(login: Login) -> None:
    login.client.adapter.close()


# One authenticated client per (address, TLS, namespace, credentials), the most recent kept.
_logins: ClientCache[tuple[object, ...], Login] = ClientCache(MAX_LOGINS, _close)


def keep(key: tuple[object, ...], login: Login) -> Login:
    """Cache a login; the oldest go first, since a rotated Kubernetes JWT makes a new key."""
    return _logins.put(key, login)


def fresh(login: Login) -> bool:
    return login.expires is None or time.monotonic() < login.expires


def forget_logins() -> None:
    """Close and drop every cached Vault client and connection (tokens are not revoked)."""
    from nova_config.sources.connections import connections  # noqa: PLC0415 - imports transport

    _logins.clear()
    _working.clear()
    connections.close()


def cached(key: tuple[object, ...]) -> Login | None:
    """The login kept for `key`, if any (fresh or not)."""
    return _logins.get(key)


def drop(key: tuple[object, ...], login: Login) -> None:
    """Forget a login found revoked, if it is still the one kept, and close its client."""
    _logins.discard(key, login)


# The node of each address list that last answered; nothing to close, only to forget after fork.
_working: ClientCache[tuple[str, ...], str] = ClientCache(MAX_LOGINS, lambda _: None)


def in_order(nodes: tuple[str, ...]) -> list[str]:
    """A cluster's nodes in the order to try them: the last that answered, then the list's."""
    first = _working.get(nodes)
    if first is None or first == nodes[0]:
        return list(nodes)
    return [first, *(node for node in nodes if node != first)]


def worked(nodes: tuple[str, ...], node: str) -> None:
    """Remember the node that answered, for the rest of the process (not a forked child)."""
    if len(nodes) > 1 and _working.get(nodes) != node:
        _working.put(nodes, node)


def lock_for(key: tuple[object, ...]) -> threading.Lock:
    """The lock one credential's logins are made under (single flight)."""
    return _logins.lock_for(key)


__all__ = [
    "MAX_LOGINS",
    "Login",
    "cached",
    "drop",
    "forget_logins",
    "fresh",
    "in_order",
    "keep",
    "lock_for",
    "worked",
]
