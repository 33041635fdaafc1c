"""Kept-alive HTTP connections for Vault's requests: `http.client`, bounded by the deadline.

A request through requests and urllib3 (hvac's transport) costs more than a read from a nearby
Vault takes to answer: building the request, the connection pool's bookkeeping and the response
objects come to about 170 us a request here, against an answer of about 450 us
(benchmarks/RESULTS.md). Vault's requests are plain (a method, a path, a few headers, a small
JSON body), so they go through `http.client` instead, on connections kept per address and TLS
settings, with what requests would do for them:

- the URL quoted as requests quotes it (`transport.sendable`);
- TLS verified against certifi's bundle (requests' default), `VAULT_CACERT` or `VAULT_CAPATH`,
  or not at all with `VAULT_SKIP_VERIFY`; a client certificate when one is configured;
- a kept-alive connection that the server closed while idle is not reused (urllib3's check);
- the connection made within the deadline, and every read of the answer too (`deadline_io`).

A node reached through a proxy is sent its requests through requests, which speaks proxies.
A forked child starts with no connection: through a shared socket the answers to two
processes' requests would cross.
"""

from __future__ import annotations

import functools
import http.client
import os
import select
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nova_config.sources.deadline_io import DeadlineResponse, connect_within
from nova_config.sources.transport import Answer, sendable

if TYPE_CHECKING:
    import ssl

# Idle connections kept per address and TLS settings (urllib3's pool keeps as many).
KEEP = 10

Verify = bool | str
Cert = tuple[str, str] | str | None
_Key = tuple[str, str, int, Verify, Cert]


class ConnectTimeout(TimeoutError):
    """No connection was made before the deadline."""


class TlsError(OSError):
    """The TLS handshake failed, or the TLS settings could not be loaded; never worth a retry."""


class _HTTP(http.client.HTTPConnection):
    response_class = DeadlineResponse


class _HTTPS(http.client.HTTPSConnection):
    response_class = DeadlineResponse


def _files_of(verify: Verify, cert: Cert) -> tuple[tuple[str, int, int], ...]:
    """Each TLS file's path, change time and size: a file replaced in place (a CA bundle or
    client certificate rotated on a mounted volume) makes a new context, as urllib3 loads the
    files again for each new connection."""
    paths = [verify] if isinstance(verify, str) else []
    paths += list(cert) if isinstance(cert, tuple) else [cert] if cert else []
    signature = []
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            continue  # loading it fails, and says so
        signature.append((path, status.st_mtime_ns, status.st_size))
    return tuple(signature)


@functools.lru_cache(maxsize=16)
def _context(verify: Verify, cert: Cert, files: tuple[object, ...]) -> ssl.SSLContext:
    """The TLS context for these settings and files, made once (loading a CA bundle takes
    milliseconds): `files` is `_files_of(verify, cert)`."""
    del files  # part of the cache key only
    import ssl  # noqa: PLC0415 - https only

    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        import certifi  # noqa: PLC0415 - requests' own bundle, present wherever requests is

        context = ssl.create_default_context(cafile=certifi.where())
    elif os.path.isdir(verify):
        context = ssl.create_default_context(capath=verify)
    else:
        context = ssl.create_default_context(cafile=verify)
    if isinstance(cert, tuple):
        context.load_cert_chain(cert[0], cert[1])
    elif cert:
        context.load_cert_chain(cert)
    return context


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server (readable while idle: EOF)."""
    sock = connection.sock
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _place(url: str, verify: Verify, cert: Cert) -> tuple[_Key, str]:
    """The pool key and the request target of a URL as requests would send it.

    Its own function, so that no frame of a request keeps the URL's parts: a user and password
    in VAULT_ADDR are in them.
    """
    parts = urlsplit(sendable(url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname or "", port, verify, cert), target


class Connections:
    """Idle connections by address and TLS settings, each used by one request at a time."""

    def __init__(self) -> None:
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
            os.register_at_fork(after_in_child=self._reset_in_child)

    def _reset_in_child(self) -> None:
        # The parent's sockets are forgotten, not closed, as the store clients' are.
        self._idle = {}
        self._lock = threading.Lock()  # the parent's may have been held at the fork

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: str | None,
        *,
        timeout: float,
        verify: Verify,
        cert: Cert,
    ) -> Answer:
        """Send one request and read its answer in full, within the deadline of `within()`.

        Raises:
            ConnectTimeout: no connection before the deadline.
            TlsError: the TLS handshake failed or the TLS settings could not be loaded.
            TimeoutError: the answer did not come in time.
            OSError, http.client.HTTPException: the connection failed, or the answer was cut.
            ValueError: the request could not be sent (a header refused; its text may quote it).
        """
        key, target = _place(url, verify, cert)
        connection = self._take(key)
        try:
            if connection is None:
                connection = self._connect(key, timeout)
            elif connection.sock is not None:  # always, for one kept: `_take` drops the others
                connection.sock.settimeout(timeout)
            connection.request(method, target, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read()
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._keep(key, connection)
        return Answer(response.status, response.getheader("location"), data)

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        """An idle connection for `key` that is still open, or None."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None or not _dropped(connection):
                return connection
            connection.close()

    def _keep(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < KEEP:
                idle.append(connection)
                return
        connection.close()

    def _connect(self, key: _Key, timeout: float) -> http.client.HTTPConnection:
        """A new connection for `key`, made within the deadline."""
        import ssl  # noqa: PLC0415 - its errors only

        scheme, host, port, verify, cert = key
        connection: http.client.HTTPConnection
        if scheme == "https":
            try:
                context = _context(verify, cert, _files_of(verify, cert))
            except (OSError, ValueError) as exc:  # a CA file or client key that cannot be read
                raise TlsError(
                    f"the TLS settings could not be loaded ({type(exc).__name__})"
                ) from None
            connection = _HTTPS(host, port, timeout=timeout, context=context)
        else:
            connection = _HTTP(host, port, timeout=timeout)
        try:
            connect_within(connection, connection.connect, ConnectTimeout)
        except ssl.SSLError as exc:
            connection.close()
            raise TlsError(f"TLS handshake failed ({type(exc).__name__})") from None
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle = {}
        for connection in idle:
            connection.close()


connections = Connections()

__all__ = ["KEEP", "ConnectTimeout", "Connections", "TlsError", "connections"]
