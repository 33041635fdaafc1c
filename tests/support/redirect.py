"""A Vault that redirects: a proxy in front of a dev server that answers chosen paths 307.

Fault injection at the HTTP layer, built on the fault proxy's server and relay.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fault_proxy import FaultHandler, FaultServer
from tests.support.loopback import HOST, serve, stop_serving
from tests.support.openbao import DevServer


@dataclass
class _Rule:
    prefix: str
    to: str
    left: int | None  # None: every matching request
    status: int


class _RedirectServer(FaultServer):
    """The fault proxy's server, plus redirect rules and, optionally, TLS on accepted sockets."""

    def __init__(self, upstream_port: int, tls: ssl.SSLContext | None) -> None:
        super().__init__(upstream_port)
        self.RequestHandlerClass = _RedirectHandler
        self.tls = tls
        self.rules: list[_Rule] = []
        self.redirects_sent = 0
        self.handshake_failures = 0

    def take_redirect(self, method: str, path: str) -> tuple[int, str] | None:
        """Record a request; the status and Location to answer it with, or None to forward it."""
        with self.lock:
            for rule in self.rules:
                if path.startswith(rule.prefix) and rule.left != 0:
                    if rule.left is not None:
                        rule.left -= 1
                    self.seen.append((method, path))
                    self.redirects_sent += 1
                    return rule.status, rule.to + path
        return None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs on the request's own thread, so a silent client blocks nothing.
        request.settimeout(5)
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # ssl.SSLError too: e.g. a plain-http request on this https port
            with self.lock:
                self.handshake_failures += 1
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()


class _RedirectHandler(FaultHandler):
    """Answers 307 while a redirect rule matches, and relays as the fault proxy does otherwise."""

    server: _RedirectServer

    def _redirect_or_relay(self) -> None:
        redirect = self.server.take_redirect(self.command, self.path)
        if redirect is None:
            self._relay()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, location = redirect
        self._answer(status, [("Location", location)], b"")

    do_GET = do_POST = do_PUT = do_DELETE = _redirect_or_relay


class RedirectProxy:
    """A proxy on 127.0.0.1 in front of a plain-http dev server that answers chosen paths 307.

    Fault injection at the HTTP layer: a dev server never redirects, but a compromised or
    misconfigured load balancer in front of Vault can, to any Location it likes. Requests
    whose path starts with a rule's prefix get `307 Location: <to><path>`; the rest are
    forwarded unchanged (through the fault proxy's relay).

    Attributes:
        addr: the proxy's base URL (https when started with a certificate), for VAULT_ADDR.
    """

    def __init__(self, upstream: DevServer, tls: tuple[Path, Path] | None = None) -> None:
        """Prepare a proxy for `upstream`; `tls` is (certificate, key) to serve https."""
        if upstream.scheme != "http":
            raise ValueError("the redirect proxy forwards plain http only")
        self.upstream = upstream
        self._tls = tls
        self._server: _RedirectServer | None = None
        self._thread: threading.Thread | None = None
        self.addr = ""

    def start(self) -> RedirectProxy:
        """Listen on a port the OS chose; returns self."""
        context = None
        if self._tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self._tls)
        self._server = _RedirectServer(self.upstream.port, context)
        scheme = "http" if context is None else "https"
        self.addr = f"{scheme}://{HOST}:{self._server.server_address[1]}"
        self._thread = serve(self._server, "vault-redirect-proxy")
        return self

    def redirect(
        self, prefix: str, to: str | None = None, times: int | None = None, status: int = 307
    ) -> None:
        """Answer requests whose path starts with `prefix` with a redirect to `to` + their path.

        Args:
            prefix: e.g. "/v1/auth/approle/login" or "/v1/secret/data/".
            to: what the Location starts with, e.g. a base URL "http://127.0.0.1:1234";
                None: this proxy itself (same origin).
            times: redirect this many matching requests, then forward; None: all of them.
            status: the redirect's status code (301, 302, 303, 307 or 308).
        """
        assert self._server is not None
        to = self.addr if to is None else to
        with self._server.lock:
            self._server.rules.append(_Rule(prefix, to, times, status))

    @property
    def redirects_sent(self) -> int:
        """How many 307 answers the proxy has given."""
        assert self._server is not None
        with self._server.lock:
            return self._server.redirects_sent

    @property
    def handshake_failures(self) -> int:
        """Connections to an https proxy that did not complete TLS (plain http among them)."""
        assert self._server is not None
        with self._server.lock:
            return self._server.handshake_failures

    def requests_for(self, prefix: str) -> int:
        """How many requests whose path starts with `prefix` reached the proxy."""
        assert self._server is not None
        with self._server.lock:
            return sum(1 for _, path in self._server.seen if path.startswith(prefix))

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            stop_serving(self._server, self._thread)
