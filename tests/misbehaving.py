"""Loopback servers built to misbehave, and a child process whose resolver never answers.

Fault injection at the HTTP, TCP and DNS layers: a healthy OpenBao or AWS endpoint does not
redirect elsewhere, trickle its answer one byte at a time, or sit behind a dead nameserver, so
these stand in for a hostile or broken network between the application and its store.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from server_openbao import HOST, STOP_TIMEOUT, DevServer, _FaultHandler, _FaultServer

# A request head larger than this is not a request these servers expect.
MAX_HEAD = 64 * 1024
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _serve(server: socketserver.BaseServer, name: str) -> threading.Thread:
    # A short poll interval keeps shutdown() from waiting up to half a second.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return thread


def _read_head(connection: socket.socket, limit: float) -> bytes:
    """What a client sends up to the end of its request head (or until it stops sending)."""
    connection.settimeout(limit)
    head = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
            chunk = connection.recv(4096)
            if not chunk:
                break
            head += chunk
    return head


# --- a host that must never be reached -----------------------------------------------------------


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
        self._thread = _serve(self._server, "capture-server")
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
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)


# --- a Vault that redirects ----------------------------------------------------------------------


@dataclass
class _Rule:
    prefix: str
    to: str
    left: int | None  # None: every matching request
    status: int


class _RedirectServer(_FaultServer):
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


class _RedirectHandler(_FaultHandler):
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
        self._thread = _serve(self._server, "vault-redirect-proxy")
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
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)


# --- a server that never finishes its answer -----------------------------------------------------

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
        _read_head(self.request, limit=5.0)
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
        self._thread = _serve(self._server, f"trickle-{self._server.part}")
        return self

    @property
    def connections(self) -> int:
        """How many connections it has accepted (each began a trickled answer)."""
        with self._server.lock:
            return self._server.connections

    def stop(self) -> None:
        """End every trickle at its next byte, stop serving and close the listening socket."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)


# --- child processes, and a resolver that never answers ------------------------------------------


@dataclass(frozen=True)
class Finished:
    """How a child process ended.

    Attributes:
        code: its exit status (negative: the signal that ended it).
        output: stdout and stderr together.
        seconds: from start to exit (or to being killed).
        killed: it was still running at the time limit and was killed.
        dns_queries: the queries the never-answering nameserver received (0 outside it).
    """

    code: int
    output: str
    seconds: float
    killed: bool
    dns_queries: int = 0

    def assert_failed_within(self, seconds: float) -> None:
        """It exited on its own with status 1 (a failed load) in under `seconds`."""
        assert not self.killed, self.output
        assert self.code == 1, self.output
        assert self.seconds < seconds


def run_child(argv: Sequence[str], env: Mapping[str, str], limit: float) -> Finished:
    """Run a command in a new process group; kill the group if it outlives `limit` seconds."""
    started = time.monotonic()
    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed = False
    try:
        try:
            output, _ = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            killed = True
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=STOP_TIMEOUT)
        seconds = time.monotonic() - started
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    return Finished(process.returncode, output, seconds, killed)


# The resolv.conf goes over /etc/resolv.conf only in the child's own mount namespace.
_BIND_RESOLV_CONF = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'


def _deaf_nameserver() -> socket.socket:
    """A UDP socket on port 53 of some loopback address that reads nothing and answers nothing.

    Bound, so queries are not refused at once (an unbound port answers ICMP unreachable and
    the resolver gives up in microseconds); never read, so each query waits its full timeout.
    """
    for _ in range(20):
        address = f"127.53.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
        nameserver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            nameserver.bind((address, 53))
        except OSError:
            nameserver.close()
            continue
        return nameserver
    pytest.skip("no loopback address had UDP port 53 free for a never-answering nameserver")


def _drain(nameserver: socket.socket) -> int:
    nameserver.setblocking(False)
    count = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            nameserver.recv(4096)
            count += 1
    return count


def run_without_dns(
    argv: Sequence[str], env: Mapping[str, str], limit: float, workdir: Path
) -> Finished:
    """Run a command in a child whose only nameserver receives queries and never answers.

    The child gets its own mount namespace (`unshare -m`) with a resolv.conf bind-mounted over
    /etc/resolv.conf: `nameserver 127.53.x.y` and `options timeout:5 attempts:3`, as a
    resolver behind a dead network would be. glibc then spends 15 s in each getaddrinfo()
    (checked by hand: A and AAAA queries, three attempts, 5 s each) before it fails.

    Skips the test when not root or when the namespace cannot be set up.
    """
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("a never-answering resolver needs root and unshare (mount namespaces)")
    nameserver = _deaf_nameserver()
    try:
        address = nameserver.getsockname()[0]
        resolv_conf = workdir / "resolv.conf"
        resolv_conf.write_text(
            f"nameserver {address}\noptions timeout:5 attempts:3\n", encoding="utf-8"
        )
        wrapper = [unshare, "-m", "sh", "-c", _BIND_RESOLV_CONF, str(resolv_conf)]
        probe = run_child([*wrapper, "cat", "/etc/resolv.conf"], env, limit=STOP_TIMEOUT)
        if probe.code != 0 or f"nameserver {address}" not in probe.output:
            pytest.skip(f"unshare -m with mount --bind failed: {probe.output.strip()}")
        finished = run_child([*wrapper, *argv], env, limit)
        queries = _drain(nameserver)
    finally:
        nameserver.close()
    return Finished(
        finished.code, finished.output, finished.seconds, finished.killed, dns_queries=queries
    )
