"""A fault proxy in front of an OpenBao dev server: HTTP answers a healthy server never gives."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.loopback import HOST, serve, stop_serving
from tests.support.openbao import DevServer

# Headers not relayed either way: they describe one connection or one hop, not the request;
# Content-Length is recomputed, and Date and Server come from the proxy's own answer.
NOT_RELAYED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "date",
        "server",
    }
)


class FaultServer(http.server.ThreadingHTTPServer):
    """The fault proxy's HTTP server: the upstream, the faults still to inject, what it saw."""

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__((HOST, 0), FaultHandler)
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []
        self.fault: tuple[int, bytes] | None = None
        self.faults_left: int | None = 0  # None: every request

    def take_fault(self, method: str, path: str) -> tuple[int, bytes] | None:
        """Record a request; the status and body to answer it with, or None to forward it."""
        with self.lock:
            self.seen.append((method, path))
            if self.fault is None or self.faults_left == 0:
                return None
            if self.faults_left is not None:
                self.faults_left -= 1
            return self.fault


class FaultHandler(http.server.BaseHTTPRequestHandler):
    """Answers with the injected fault while one is due, and forwards the request otherwise."""

    server: FaultServer

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        fault = self.server.take_fault(self.command, self.path)
        if fault is not None:
            status, payload = fault
            self._answer(status, [("Content-Type", "application/json")], payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_RELAYED}
        upstream = http.client.HTTPConnection(HOST, self.server.upstream_port, timeout=10)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in NOT_RELAYED]
        finally:
            upstream.close()
        self._answer(response.status, kept, payload)

    do_GET = do_POST = do_PUT = do_DELETE = _relay

    def _answer(self, status: int, headers: Sequence[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines on stderr would clutter pytest's output."""


class FaultProxy:
    """A plain-HTTP proxy on 127.0.0.1 in front of a dev server, injecting HTTP-level faults.

    A healthy dev server does not answer 5xx or 429 on demand, so the proxy does: it answers
    the next requests with a chosen status and JSON body, then forwards the rest unchanged.

    Attributes:
        addr: the proxy's base URL, to use as VAULT_ADDR.
        upstream: the server it forwards to.
    """

    def __init__(self, upstream: DevServer) -> None:
        """Start forwarding every request to `upstream`, injecting nothing yet."""
        if upstream.scheme != "http":
            raise ValueError("the fault proxy forwards plain http only")
        self.upstream = upstream
        self._server = FaultServer(upstream.port)
        self.addr = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = serve(self._server, "vault-fault-proxy")

    def fail(self, status: int, body: Mapping[str, Any], times: int | None = None) -> None:
        """Answer the next `times` requests (None: all of them) with `status` and JSON `body`."""
        with self._server.lock:
            self._server.fault = (status, json.dumps(body).encode())
            self._server.faults_left = times

    def requests_for(self, path: str) -> int:
        """How many requests for `path` (e.g. "/v1/secret/data/x") reached the proxy."""
        with self._server.lock:
            return sum(1 for _, seen in self._server.seen if seen.split("?")[0] == path)

    def requests_for_any(self) -> int:
        """How many requests reached the proxy."""
        with self._server.lock:
            return len(self._server.seen)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        stop_serving(self._server, self._thread)
