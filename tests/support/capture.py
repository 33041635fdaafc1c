"""A host that must never be reached: a TCP listener that records every byte it receives.

Fault injection at the TCP layer, the target of a hostile redirect.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading

from tests.support.loopback import HOST, serve, stop_serving

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _CaptureTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _CaptureHandler)
        self.lock = threading.Lock()
        self.received = b""
        self.connections = 0


class _CaptureHandler(socketserver.BaseRequestHandler):
    server: _CaptureTCPServer
    request: socket.socket

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
        # Whatever arrives until the client falls silent (a request, a TLS hello) is kept.
        self.request.settimeout(0.3)
        with contextlib.suppress(OSError):
            while chunk := self.request.recv(65536):
                with self.server.lock:
                    self.server.received += chunk
        with contextlib.suppress(OSError):
            self.request.sendall(NOT_FOUND)


class CaptureServer:
    """A TCP listener on 127.0.0.1 that records every connection and byte, and answers 404.

    Fault injection at the TCP layer: the host a hostile redirect points at. A test proves a
    credential never left by finding `received` empty and `connections` zero.

    Attributes:
        url: "http://127.0.0.1:<port>", to put in a Location header.
    """

    def __init__(self) -> None:
        self._server: _CaptureTCPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> CaptureServer:
        """Listen on a port the OS chose; returns self."""
        self._server = _CaptureTCPServer()
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = serve(self._server, "capture-server")
        return self

    @property
    def received(self) -> bytes:
        """Every byte received so far, all connections together."""
        assert self._server is not None
        with self._server.lock:
            return self._server.received

    @property
    def connections(self) -> int:
        """How many TCP connections were accepted so far."""
        assert self._server is not None
        with self._server.lock:
            return self._server.connections

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            stop_serving(self._server, self._thread)
