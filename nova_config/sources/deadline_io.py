"""Sockets bounded by a deadline: every read of an answer, and the making of a connection.

A socket timeout bounds each read, not the answer: a server that trickles its headers or body
one byte at a time, each under the timeout, holds a request open for as long as it likes. An
answer read through `DeadlineResponse` waits at most until the deadline set by `within()`,
however the server spaces its bytes. New connections (name lookup, TCP connect, TLS handshake)
are made on a worker thread that is waited for only until that deadline (`connect_within()`).

Both the requests transport (`transport.py`) and the kept-alive connections (`connections.py`)
use them.
"""

from __future__ import annotations

import http.client
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

_local = threading.local()


@contextmanager
def within(deadline: float) -> Iterator[None]:
    """Bound the connections made and answers read on this thread by `deadline` (monotonic)."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = deadline
    try:
        yield
    finally:
        _local.deadline = previous


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side whose every read waits at most until the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        # The socket's own makefile, so that the socket stays open while the response is read
        # even after the connection lets go of it (it counts its open files).
        self._raw = sock.makefile("rb", buffering=0)
        self._timeout = sock.gettimeout()
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the deadline passed while the answer was being read")
        timeout = self._timeout
        self._sock.settimeout(remaining if timeout is None else min(timeout, remaining))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What `http.client.HTTPResponse` is given instead of the socket: it only calls makefile."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        del mode  # always "rb"
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class DeadlineResponse(http.client.HTTPResponse):
    """An answer whose every read ends by the deadline of `within()` (unbounded outside it)."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_local, "deadline", None)
        if deadline is not None:
            sock = _DeadlineSocket(sock, deadline)
        super().__init__(sock, *args, **kwargs)


def connect_within(
    connection: Any, connect: Callable[[], None], late: Callable[[], Exception]
) -> None:
    """Make a new connection (name lookup, TCP, TLS) on a worker, waiting until the deadline.

    No socket timeout bounds a name lookup, and a TLS handshake waits the timeout once per read:
    only a thread can be given up on. It costs a hand-off per new connection, not per request.

    Raises:
        what `late()` returns: the deadline passed first (the attempt goes on, then closes).
        what `connect` raises.
    """
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        connect()
        return
    from nova_config.sources.workers import submit  # noqa: PLC0415 - with connections only

    remaining = deadline - time.monotonic()
    if remaining > 0:
        future = submit(connect)
        try:
            future.result(timeout=remaining)
        except TimeoutError:
            # Given up on: whenever the abandoned attempt ends, its socket is closed.
            future.add_done_callback(lambda _: connection.close())
        else:
            return
    raise late()


__all__ = ["DeadlineResponse", "connect_within", "within"]
