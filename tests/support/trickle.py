"""A server that never finishes its answer: one byte at a time, in its headers or its body.

Fault injection at the HTTP layer, for the rule that a whole request has a deadline.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from typing import Literal

from tests.support.loopback import HOST, read_head, serve, stop_serving

TricklePart = Literal["headers", "body"]


class _TrickleTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, part: TricklePart, interval: float, limit: float) -> None:
        super().__init__((HOST, 0), _TrickleHandler)
        self.part = part
        self.interval = interval
        self.limit = limit
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0


class _TrickleHandler(socketserver.BaseRequestHandler):
    server: _TrickleTCPServer
    request: socket.socket

    def handle(self) -> None:
        server = self.server
        with server.lock:
            server.connections += 1
        read_head(self.request, limit=5.0)
        if server.part == "headers":
            opening, endless = b"", b"HTTP/1.1 200 OK\r\nX-Trickle: "
        else:
            opening = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000000\r\n\r\n"
            )
            endless = b'{"data": {"data": {"trickle": "'
        ends = time.monotonic() + server.limit
        with contextlib.suppress(OSError):  # the client hung up
            self.request.sendall(opening)
            sent = 0
            while time.monotonic() < ends and not server.stopping.wait(server.interval):
                self.request.sendall(endless[sent : sent + 1] or b"a")
                sent += 1


class TrickleServer:
    """An HTTP server on 127.0.0.1 whose every answer is a 200 that never ends.

    Fault injection at the HTTP layer: one byte every `interval` seconds, in the status line and
    headers (`part="headers"`) or in a body announced as 100 MB (`part="body"`), for `limit`
    seconds per connection. Each byte arrives well inside a client's read timeout, so only a
    deadline on the whole request stops the client.

    Attributes:
        url: "http://127.0.0.1:<port>".
    """

    def __init__(self, part: TricklePart, interval: float = 0.1, limit: float = 30.0) -> None:
        self._server = _TrickleTCPServer(part, interval, limit)
        self._thread: threading.Thread | None = None
        self.url = f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> TrickleServer:
        """Start serving; returns self."""
        self._thread = serve(self._server, f"trickle-{self._server.part}")
        return self

    @property
    def connections(self) -> int:
        """How many connections it has accepted (each began a trickled answer)."""
        with self._server.lock:
            return self._server.connections

    def stop(self) -> None:
        """End every trickle at its next byte, stop serving and close the listening socket."""
        self._server.stopping.set()
        stop_serving(self._server, self._thread)
