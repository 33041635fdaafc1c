"""A raw HTTP proxy in front of any store that breaks its answers in ways no other proxy here can.

Fault injection at the HTTP layer (on the socket, below any HTTP library): the connection dropped
with no answer, an answer held back, a status with chosen headers (429 with Retry-After), the real
answer cut short (a clean close, or a TCP reset, part-way through the body), and a redirect for
the AWS store (the Vault tests have `redirect.py`). The fault proxy (`fault_proxy.py`) and moto's
forwarder (`moto.py`) answer through `http.server`, which always finishes what it sends.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

from tests.support.loopback import HOST, read_head, serve, stop_serving

FaultKind = Literal["drop", "hang", "answer", "truncate", "reset"]
HOLD_LIMIT = 30.0  # a held request is let go after this, even if a test forgets to


@dataclass(frozen=True)
class Fault:
    """What to do with every request: `kind`, and for `answer` the status, headers and body."""

    kind: FaultKind
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass
class _Request:
    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _read_request(connection: socket.socket) -> _Request | None:
    """One request (head and a Content-Length body) from the socket; None if it is not one."""
    data = read_head(connection, limit=5.0)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:  # not "METHOD PATH [VERSION]"
        return None
    headers = [
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
    ]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    with contextlib.suppress(OSError):
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
    return _Request(parts[0], parts[1], headers, body)


# Not relayed: they describe one connection or hop, or the proxy recomputes them.
_HOP = frozenset({"connection", "keep-alive", "content-length", "transfer-encoding", "host"})


class _GateServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__((HOST, 0), _GateHandler)
        self.upstream_port = upstream_port
        self.fault: Fault | None = None
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.faulted = 0


class _GateHandler(socketserver.BaseRequestHandler):
    server: _GateServer
    request: socket.socket

    def handle(self) -> None:
        request = _read_request(self.request)
        if request is None:
            return
        fault = self.server.fault
        if fault is None:
            self._send(self._forward(request))
            return
        with self.server.lock:
            self.server.faulted += 1
        if fault.kind == "hang":
            self.server.released.wait(HOLD_LIMIT)
        elif fault.kind == "answer":
            self._send(_compose(fault.status, list(fault.headers), fault.body))
        elif fault.kind in ("truncate", "reset"):
            self._cut(self._forward(request), reset=fault.kind == "reset")
        # "drop" (and a hang let go): the connection closes without a byte of answer.

    def _forward(self, request: _Request) -> bytes:
        """The upstream's whole answer to `request`, as bytes ready to send (Connection: close)."""
        headers = {k: v for k, v in request.headers if k.lower() not in _HOP}
        upstream = http.client.HTTPConnection(HOST, self.server.upstream_port, timeout=10)
        try:
            upstream.request(request.method, request.path, request.body or None, headers)
            response = upstream.getresponse()
            body = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP]
        finally:
            upstream.close()
        return _compose(response.status, kept, body)

    def _cut(self, answer: bytes, *, reset: bool) -> None:
        """Send the head and half the body, then close (FIN) or abort the connection (RST)."""
        head, _, body = answer.partition(b"\r\n\r\n")
        with contextlib.suppress(OSError):
            self.request.sendall(head + b"\r\n\r\n" + body[: len(body) // 2])
            if reset:
                # SO_LINGER on, 0 s: close() sends a TCP reset instead of a FIN.
                self.request.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.request.close()  # now: socketserver would shut down (FIN) before closing
            else:
                self.request.shutdown(socket.SHUT_WR)

    def _send(self, answer: bytes) -> None:
        with contextlib.suppress(OSError):  # the client hung up
            self.request.sendall(answer)


def _compose(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An HTTP/1.1 answer with its Content-Length, closing the connection after it."""
    reason = http.client.responses.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class FaultGate:
    """A proxy on 127.0.0.1 in front of a plain-http store that forwards each request until told
    to break every answer with a `Fault`. One request per connection.

    Attributes:
        url: "http://127.0.0.1:<port>", to use as VAULT_ADDR or AWS_ENDPOINT_URL.
    """

    def __init__(self, upstream_port: int) -> None:
        """Start forwarding to the store on 127.0.0.1:`upstream_port`, breaking nothing yet."""
        self._server = _GateServer(upstream_port)
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = serve(self._server, "fault-gate")

    def inject(self, fault: Fault) -> None:
        """Break every request from now on with `fault`."""
        self._server.fault = fault

    @property
    def faulted(self) -> int:
        """How many requests were answered with the fault."""
        with self._server.lock:
            return self._server.faulted

    def stop(self) -> None:
        """Let held requests go, stop serving and close the listening socket."""
        self._server.released.set()
        stop_serving(self._server, self._thread)
