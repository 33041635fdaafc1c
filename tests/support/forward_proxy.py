"""An HTTP forward proxy on 127.0.0.1: between the process and a loopback server, for alerts.

It tunnels `CONNECT host:port` (an https webhook) and forwards requests in absolute form (a
plain http one), to 127.0.0.1 and localhost only. It can demand a `Proxy-Authorization`, and
it records the head of every request, so a test can tell what the proxy saw (a CONNECT shows
the host and port, never the path that holds the token). It can also hang: read a request and
never answer.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import socketserver
import threading
import time
from urllib.parse import urlsplit

from tests.support.loopback import HOST, read_head, serve, stop_serving

# How long a connection may stay silent (or a hanging proxy hold one) before it is dropped.
SILENCE = 30.0
LOOPBACK = frozenset({"127.0.0.1", "localhost"})
# Not forwarded with an absolute-form request: they are for this hop; Connection is replaced.
NOT_FORWARDED = frozenset({"proxy-authorization", "proxy-connection", "connection"})
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
AUTHENTICATE = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
)
FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

Seen = tuple[str, str, dict[str, str]]


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, password: str | None) -> None:
        super().__init__((HOST, 0), _ProxyHandler)
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.authorization = None
        if password is not None:
            credentials = base64.b64encode(f"nova:{password}".encode()).decode("ascii")
            self.authorization = f"Basic {credentials}"
        self.hanging = threading.Event()
        self.released = threading.Event()  # set at stop: hanging handlers and tunnels return


def _parse(head: bytes) -> Seen | None:
    """(method, target, headers) from a request head, or None if it is not one."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip()] = value.strip()
    return parts[0], parts[1], headers


def _header(headers: dict[str, str], name: str) -> str | None:
    """A header's value, its name matched without regard to case."""
    return next((value for key, value in headers.items() if key.lower() == name), None)


def _origin(target: str) -> tuple[str, str, str]:
    """Host, port and origin-form path of an absolute-form target; no host if not http://."""
    parts = urlsplit(target)
    try:
        port = str(parts.port or 80)
    except ValueError:  # a port that is not a number or out of range
        port = ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Only plain http is forwarded in absolute form; https goes by CONNECT.
    return (parts.hostname or "") if parts.scheme == "http" else "", port, path


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ProxyServer
    request: socket.socket

    def handle(self) -> None:
        data = read_head(self.request, SILENCE)
        head, end, early = data.partition(b"\r\n\r\n")
        parsed = _parse(head) if end else None
        if parsed is None:
            return
        method, target, headers = parsed
        with self.server.lock:
            self.server.seen.append(parsed)
        if self.server.hanging.is_set():
            self.server.released.wait(SILENCE)
            return
        expected = self.server.authorization
        if expected is not None and _header(headers, "proxy-authorization") != expected:
            self._send(AUTHENTICATE)
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self._through(host, port, ESTABLISHED, early)
            return
        host, port, path = _origin(target)
        kept = [f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in NOT_FORWARDED]
        forwarded = f"{method} {path} HTTP/1.1\r\n{''.join(kept)}Connection: close\r\n\r\n"
        self._through(host, port, None, forwarded.encode("latin-1") + early)

    def _through(self, host: str, port: str, answer: bytes | None, first: bytes) -> None:
        """Connect to host:port, answer the client (if `answer`), send `first`, then relay."""
        if host not in LOOPBACK or not port.isdigit():
            self._send(FORBIDDEN)
            return
        try:
            upstream = socket.create_connection((host, int(port)), timeout=SILENCE)
        except OSError:
            self._send(BAD_GATEWAY)
            return
        with upstream, contextlib.suppress(OSError):
            if answer is not None:
                self.request.sendall(answer)
            if first:
                upstream.sendall(first)
            self._relay(upstream)

    def _relay(self, upstream: socket.socket) -> None:
        """Bytes both ways until either side closes, the proxy stops, or SILENCE passes."""
        client = self.request
        pair = (client, upstream)
        heard = time.monotonic()
        while not self.server.released.is_set() and time.monotonic() - heard < SILENCE:
            readable, _, _ = select.select(pair, [], [], 0.1)
            for source in readable:
                chunk = source.recv(65536)
                if not chunk:
                    return
                (upstream if source is client else client).sendall(chunk)
                heard = time.monotonic()

    def _send(self, answer: bytes) -> None:
        with contextlib.suppress(OSError):
            self.request.sendall(answer)


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 to loopback servers, serving on a thread.

    Attributes:
        url: "http://127.0.0.1:<port>", to put in HTTPS_PROXY or HTTP_PROXY (with
            "nova:<password>@" before the host when the proxy demands one).
    """

    def __init__(self, *, password: str | None = None) -> None:
        """Start serving; with `password`, demand `Proxy-Authorization` for user "nova"."""
        self._server = _ProxyServer(password)
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = serve(self._server, "forward-proxy")

    @property
    def seen(self) -> list[Seen]:
        """(method, target, headers) of every request head read so far, oldest first."""
        with self._server.lock:
            return list(self._server.seen)

    def hang(self) -> None:
        """From now on read each request's head and never answer (until stop, or SILENCE)."""
        self._server.hanging.set()

    def stop(self) -> None:
        """Let hanging handlers and open tunnels go, stop serving, close the listening socket."""
        self._server.released.set()
        stop_serving(self._server, self._thread)


__all__ = ["ForwardProxy"]
