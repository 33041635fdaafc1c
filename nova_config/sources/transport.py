"""HTTP for the stores: redirects that keep credentials home, and requests bounded by a deadline.

Redirects are never followed by `requests` here (it re-sends every header but `Authorization`
and `Cookie` to any host a 3xx names, so `X-Vault-Token` or a login body would go with them).
`follow()` follows at most one, only to an address the caller configured (one, or a cluster's
nodes), never from https to http, as Vault's own Go client does. It sends through the kept-alive
connections of `connections.py`, or through `requests` (`via_requests`) for a node reached
through a proxy; both read every answer within the deadline given to `follow()`
(`deadline_io.py`), and `deadline_session()` is requests' session with such connections.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

from nova_config.sources.deadline_io import DeadlineResponse, connect_within, within

if TYPE_CHECKING:
    import requests
    import requests.adapters

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_LATE = "no connection before the deadline"


class RedirectRefused(Exception):
    """A redirect that is not followed; the message says why, naming only scheme, host, port."""


class Answer(NamedTuple):
    """An answer read in full: its status, where it redirects (if it does), and its body."""

    status: int
    location: str | None
    body: bytes

    def __repr__(self) -> str:
        # Error trackers capture frame locals with repr(); the body may be a secret.
        return f"Answer({self.status}, {len(self.body)} bytes)"


@functools.cache
def _adapter_class() -> type[requests.adapters.HTTPAdapter]:
    """requests' adapter, with connections whose responses read within the deadline."""
    from requests.adapters import HTTPAdapter  # noqa: PLC0415 - same
    from urllib3.connection import HTTPConnection, HTTPSConnection  # noqa: PLC0415 - same
    from urllib3.connectionpool import (  # noqa: PLC0415 - same
        HTTPConnectionPool,
        HTTPSConnectionPool,
    )
    from urllib3.exceptions import ConnectTimeoutError  # noqa: PLC0415 - same

    class _HTTP(HTTPConnection):
        response_class = DeadlineResponse

        def connect(self) -> None:
            connect_within(self, super().connect, partial(ConnectTimeoutError, self, _LATE))

    class _HTTPS(HTTPSConnection):
        response_class = DeadlineResponse

        def connect(self) -> None:
            connect_within(self, super().connect, partial(ConnectTimeoutError, self, _LATE))

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


def basic_auth(url: str) -> str | None:
    """The `Authorization` header requests sends for a URL with a user and password, or None.

    As requests (and Vault's Go client) do: the userinfo, percent-decoded, as HTTP Basic.

    Raises:
        UnicodeEncodeError: a user or password that is not Latin-1 (requests refuses it too).
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode("latin1")
    return "Basic " + base64.b64encode(pair).decode("ascii")


def shown_origin(url: str) -> str:
    """A URL as messages show it: scheme, host and port only."""
    try:
        scheme, host, port = origin(url)
    except ValueError:
        return "an address that is not a valid URL"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


Send = Callable[[str], Answer]


def follow(send: Send, url: str, allowed: Origin | frozenset[Origin], deadline: float) -> Answer:
    """Send a request within a deadline; follow one redirect to `allowed`, and no other.

    Args:
        send: sends the request to a URL and reads the answer in full (`connections.send` or
            `via_requests`).
        url: where the request goes first.
        allowed: the origin (`origin()`) a redirect may lead to, or a set of them (the nodes
            of a cluster).
        deadline: the `time.monotonic()` by which every connection and read must be done.

    Returns:
        The answer, read in full (not itself a redirect that would be followed).

    Raises:
        RedirectRefused: a redirect to another origin, from https to http, or a second one.
        Exception: what `send` raises: the transport failed, or the deadline passed.
    """
    origins = frozenset((allowed,)) if isinstance(allowed, tuple) else allowed
    with within(deadline):
        answer = send(url)
        if not _is_redirect(answer):
            return answer
        answer = send(_target(url, answer.location or "", origins))
        if _is_redirect(answer):
            raise RedirectRefused("redirected more than once; only one redirect is followed")
        return answer


@functools.lru_cache(maxsize=256)
def sendable(url: str) -> str:
    """A URL as requests sends it: host IDNA-encoded, path and query quoted (cached).

    Raises:
        ValueError: not a URL requests would send.
    """
    from requests.models import PreparedRequest  # noqa: PLC0415 - hvac's transport

    request = PreparedRequest()
    request.prepare_url(url, None)
    return request.url or url


def via_requests(
    session: requests.Session,
    method: str,
    headers: Mapping[str, str],
    body: str | None,
    **send: Any,
) -> Send:
    """How `follow` sends through a `deadline_session()` (for a node reached through a proxy).

    `Session.send` would add response hooks, redirects (never followed here) and a cookie jar;
    the request goes to the session's adapter, which reads the answer in full.
    """
    import requests  # noqa: PLC0415 - hvac's transport

    def send_to(url: str) -> Answer:
        request = session.prepare_request(requests.Request(method, url, headers=headers, data=body))
        response = session.get_adapter(url).send(request, stream=False, **send)
        return Answer(response.status_code, response.headers.get("location"), response.content)

    return send_to


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


def _is_redirect(answer: Answer) -> bool:
    return answer.status in REDIRECT_STATUSES and answer.location is not None


def _target(url: str, location: str, allowed: frozenset[Origin]) -> str:
    """Where a redirect leads, as it will be sent, when it may be followed.

    The URL as it will be sent is read by both parsers that may connect: a Location such as
    `http://evil\\@vault:8200/` is vault's to urllib.parse but evil's to urllib3. Both must
    read the same allowed origin.
    """
    target = urljoin(url, location)
    try:
        where = origin(target)
        sent = sendable(target)
        readings = {origin(sent), _sent_origin(sent)}
    except ValueError:
        raise RedirectRefused("redirected to an address that is not a valid URL") from None
    if origin(url)[0] == "https" and where[0] != "https":
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
    if readings != {where}:
        raise RedirectRefused(
            "redirected to an address that URL parsers read differently; not followed, so no "
            "credential was sent"
        )
    return sent


__all__ = [
    "REDIRECT_STATUSES",
    "Answer",
    "Origin",
    "RedirectRefused",
    "Send",
    "basic_auth",
    "deadline_session",
    "follow",
    "origin",
    "sendable",
    "shown_origin",
    "via_requests",
]
