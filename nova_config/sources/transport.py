"""HTTP for the stores: a deadline that bounds every read, and redirects that keep credentials home.

`requests` bounds each socket read by its timeout, not the request: a server that trickles its
headers or body one byte at a time, each under the timeout, holds a request open for as long as
it likes. Connections made through `deadline_session()` read with a socket timeout that shrinks
to what is left of the deadline given to `follow()`, so such a
read fails at the deadline however the server spaces its bytes.

New connections (name lookup, TCP connect, TLS handshake) are made on a worker thread that is
waited for only until the deadline.

Redirects are never followed by `requests` here (it re-sends every header but `Authorization`
and `Cookie` to any host a 3xx names, so `X-Vault-Token` or a login body would go with them).
`follow()` follows at most one, only to an address the caller configured (one, or a cluster's
nodes), never from https to http, as Vault's own Go client does.
"""

from __future__ import annotations

import functools
import http.client
import io
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import socket

    import requests
    import requests.adapters

_local = threading.local()

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class RedirectRefused(Exception):
    """A redirect that is not followed; the message says why, naming only scheme, host, port."""


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


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_local, "deadline", None)
        if deadline is not None:
            sock = _DeadlineSocket(sock, deadline)
        super().__init__(sock, *args, **kwargs)


def _connect_within(connection: Any, connect: Callable[[], None]) -> None:
    """Make a new connection (name lookup, TCP, TLS) on a worker, waiting until the deadline.

    No socket timeout bounds a name lookup, and a TLS handshake waits the timeout once per read:
    only a thread can be given up on. It costs a hand-off per new connection, not per request.
    """
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        connect()
        return
    from urllib3.exceptions import ConnectTimeoutError  # noqa: PLC0415 - with requests only

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
    raise ConnectTimeoutError(connection, "no connection before the deadline")


@functools.cache
def _adapter_class() -> type[requests.adapters.HTTPAdapter]:
    """requests' adapter, with connections whose responses read within the deadline."""
    from requests.adapters import HTTPAdapter  # noqa: PLC0415 - same
    from urllib3.connection import HTTPConnection, HTTPSConnection  # noqa: PLC0415 - same
    from urllib3.connectionpool import (  # noqa: PLC0415 - same
        HTTPConnectionPool,
        HTTPSConnectionPool,
    )

    class _HTTP(HTTPConnection):
        response_class = _DeadlineResponse

        def connect(self) -> None:
            _connect_within(self, super().connect)

    class _HTTPS(HTTPSConnection):
        response_class = _DeadlineResponse

        def connect(self) -> None:
            _connect_within(self, super().connect)

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTP

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPS

    pools = {"http": _HTTPPool, "https": _HTTPSPool}

    class _Adapter(HTTPAdapter):
        # requests works out the pool on every request (proxy choice, pool key); a store's
        # session talks to one address, so the pool is looked up once per origin and TLS.
        _pools: dict[tuple[object, ...], Any]

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools
            self._pools = {}

        def get_connection_with_tls_context(
            self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
        ) -> Any:
            key = (origin(request.url), verify, cert, tuple(sorted((proxies or {}).items())))
            pool = self._pools.get(key)
            if pool is None or pool.pool is None:  # none yet, or closed by the pool manager
                pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
                self._pools[key] = pool
            return pool

        def build_response(self, req: Any, resp: Any) -> requests.Response:
            # requests' own, without the cookie jar (the stores set no cookies, and Vault's own
            # Go client keeps none), whose parsing costs about as much as the headers'.
            from requests.models import Response  # noqa: PLC0415 - with requests only
            from requests.structures import CaseInsensitiveDict  # noqa: PLC0415 - same

            response = Response()
            response.status_code = resp.status
            response.headers = CaseInsensitiveDict(resp.headers)
            response.raw = resp
            response.reason = resp.reason
            response.url = req.url
            response.request = req
            response.connection = self
            return response

        def close(self) -> None:
            self._pools = {}
            super().close()

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            if not proxy.lower().startswith("socks"):
                manager.pool_classes_by_scheme = pools
            return manager

    return _Adapter


def deadline_session() -> requests.Session:
    """A `requests.Session` whose connections and reads end by the deadline given to `follow()`."""
    import requests  # noqa: PLC0415 - only stores that speak HTTP themselves need it

    session = requests.Session()
    adapter = _adapter_class()
    session.mount("http://", adapter())
    session.mount("https://", adapter())
    return session


# Scheme, host and port.
Origin = tuple[str, str, int | None]


def origin(url: str) -> Origin:
    """Scheme, host and port of a URL, the port filled in from the scheme."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def shown_origin(url: str) -> str:
    """A URL as messages show it: scheme, host and port only."""
    try:
        scheme, host, port = origin(url)
    except ValueError:
        return "an address that is not a valid URL"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def follow(
    session: requests.Session,
    request: requests.PreparedRequest,
    allowed: Origin | frozenset[Origin],
    deadline: float,
    **send: Any,
) -> requests.Response:
    """Send a request within a deadline; follow one redirect to `allowed`, and no other.

    Args:
        session: a `deadline_session()`.
        request: the request, prepared with its credentials.
        allowed: the origin (`origin()`) a redirect may lead to, or a set of them (the nodes
            of a cluster).
        deadline: the `time.monotonic()` by which every connection and read must be done.
        **send: the keyword arguments of `Session.send` (timeout, verify, cert, proxies).

    Returns:
        The response, read in full (not itself a redirect that would be followed).

    Raises:
        RedirectRefused: a redirect to another origin, from https to http, or a second one.
        requests.RequestException: the transport failed, or the deadline passed.
    """
    origins = frozenset((allowed,)) if isinstance(allowed, tuple) else allowed
    previous = getattr(_local, "deadline", None)
    _local.deadline = deadline
    try:
        return _follow(session, request, origins, send)
    finally:
        _local.deadline = previous


def _follow(
    session: requests.Session,
    request: requests.PreparedRequest,
    allowed: frozenset[Origin],
    send: dict[str, Any],
) -> requests.Response:
    response = _send(session, request, send)
    if not _is_redirect(response):
        return response
    target, where = _target(request, response, allowed)
    response.close()
    again = request.copy()
    again.prepare_url(target, None)
    # The URL as it will be sent, read by the parser that will connect: a Location such as
    # `http://evil\@vault:8200/` is vault's to urllib.parse but evil's to urllib3. Both
    # parsers must read the same allowed origin.
    if _sent_origin(again.url or "") != where:
        raise RedirectRefused(
            "redirected to an address that URL parsers read differently; not followed, so no "
            "credential was sent"
        )
    response = _send(session, again, send)
    if _is_redirect(response):
        response.close()
        raise RedirectRefused("redirected more than once; only one redirect is followed")
    return response


def _send(
    session: requests.Session, request: requests.PreparedRequest, send: dict[str, Any]
) -> requests.Response:
    """Send through the session's adapter, and read the answer in full (within the deadline).

    `Session.send` would add response hooks, redirects (never followed here) and a cookie jar.
    No store uses cookies, and Vault's own Go client keeps none; each costs about as much as
    parsing the answer's headers.
    """
    response = session.get_adapter(request.url or "").send(request, stream=False, **send)
    _ = response.content
    return response


def _sent_origin(url: str) -> Origin | None:
    from urllib3.util import parse_url  # noqa: PLC0415 - with requests only

    try:
        parts = parse_url(url)
    except ValueError:  # urllib3's LocationParseError
        return None
    scheme = (parts.scheme or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    # urllib3 keeps an IPv6 host's brackets, which urllib.parse's hostname drops.
    return scheme, (parts.host or "").lower().strip("[]"), parts.port or default


def _is_redirect(response: requests.Response) -> bool:
    return response.status_code in REDIRECT_STATUSES and "location" in response.headers


def _target(
    request: requests.PreparedRequest,
    response: requests.Response,
    allowed: frozenset[Origin],
) -> tuple[str, Origin]:
    """Where a redirect leads, and its origin, when it may be followed."""
    target = urljoin(request.url or "", response.headers["location"])
    try:
        where = origin(target)
    except ValueError:
        raise RedirectRefused("redirected to an address that is not a valid URL") from None
    if origin(request.url or "")[0] == "https" and where[0] != "https":
        raise RedirectRefused(
            f"redirected from https to {where[0] or 'another scheme'} ({shown_origin(target)}); "
            "refused, so nothing is sent unencrypted"
        )
    if where not in allowed:
        which = "the configured address" if len(allowed) == 1 else "a configured address"
        raise RedirectRefused(
            f"redirected to {shown_origin(target)}, which is not {which}; "
            "not followed, so no credential was sent there"
        )
    return target, where


__all__ = [
    "REDIRECT_STATUSES",
    "Origin",
    "RedirectRefused",
    "deadline_session",
    "follow",
    "origin",
    "shown_origin",
]
