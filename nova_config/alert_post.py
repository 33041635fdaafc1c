"""One alert's POST to the webhook, within the alerts' time bound, retried once after a 429.

The exchange runs on a worker thread, waited for only until the bound: no socket timeout bounds
a name lookup, and a trickling answer resets the socket's timeout with every byte. What went
wrong is named in words safe to log, never by an exception's text (some carry the URL, whose
path is the webhook's token).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import re
import socket
import time
from typing import NamedTuple, Protocol

from nova_config.alert_proxy import Proxy
from nova_config.sources.workers import submit

TIMEOUT_VARIABLE = "NOVA_ALERT_TIMEOUT"
MAX_ANSWER = 64 * 1024
HEADERS = {"Content-Type": "application/json", "User-Agent": "nova-config-alerts"}


class Endpoint(Protocol):
    """Where alerts go: what a POST needs of it."""

    host: str
    port: int
    https: bool
    target: str  # the path and query: the webhook's token, never logged


class _Reply(NamedTuple):
    status: int
    retry_after: float | None


def deliver(
    endpoint: Endpoint, body: bytes, deadline: float, proxy: Proxy | None = None
) -> str | None:
    """Post once, and once more after a 429 whose wait fits the bound; None once delivered.

    Through `proxy` when one is given: by `CONNECT` for an https webhook (the proxy sees its
    host and port, not its path), in absolute form for a plain http one.
    """
    reply = _attempt(endpoint, body, deadline, proxy)
    wait = reply.retry_after if isinstance(reply, _Reply) and reply.status == 429 else None
    if wait is not None:
        if time.monotonic() + wait >= deadline:
            return f"HTTP 429, and its retry_after of {wait:g} s does not fit in {TIMEOUT_VARIABLE}"
        time.sleep(wait)
        reply = _attempt(endpoint, body, deadline, proxy)
    if isinstance(reply, str):
        return reply
    return None if 200 <= reply.status < 300 else f"HTTP {reply.status}"


def _attempt(endpoint: Endpoint, body: bytes, deadline: float, proxy: Proxy | None) -> _Reply | str:
    """The endpoint's reply, or why there is none (words safe to log)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return f"no time left in {TIMEOUT_VARIABLE}"
    # On a worker thread: no socket timeout bounds a name lookup, and a trickling answer
    # resets the socket's timeout with every byte; only waiting on a thread is bounded.
    exchange = _Exchange(endpoint, body, deadline, proxy)
    future = submit(exchange.run)
    try:
        return future.result(timeout=remaining)
    except TimeoutError:
        exchange.abort()
        return f"no answer within {TIMEOUT_VARIABLE}"
    except Exception as exc:
        return _cause(exc)


class _Exchange:
    """One POST, run on a worker thread; `abort()` cuts it off from the waiting thread."""

    def __init__(
        self, endpoint: Endpoint, body: bytes, deadline: float, proxy: Proxy | None
    ) -> None:
        self._endpoint, self._body, self._deadline = endpoint, body, deadline
        self._proxy = proxy
        self._sock: socket.socket | None = None
        self._aborted = False

    def _remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or self._aborted:
            raise TimeoutError
        return remaining

    def run(self) -> _Reply:
        endpoint, proxy = self._endpoint, self._proxy
        connection = _connection(endpoint, self._remaining(), proxy)
        target, headers = endpoint.target, HEADERS
        if proxy is not None and not endpoint.https:  # asked of the proxy in absolute form
            host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
            target = f"http://{host}:{endpoint.port}{endpoint.target}"
            if proxy.authorization is not None:
                headers = {**HEADERS, "Proxy-Authorization": proxy.authorization}
        try:
            connection.connect()
            self._sock = sock = connection.sock
            sock.settimeout(self._remaining())
            connection.request("POST", target, self._body, headers)
            sock.settimeout(self._remaining())
            response = connection.getresponse()
            sock.settimeout(self._remaining())
            data = response.read(MAX_ANSWER) if response.status == 429 else b""
            return _Reply(response.status, _retry_after(response, data))
        finally:
            connection.close()

    def abort(self) -> None:
        self._aborted = True
        sock = self._sock
        if sock is not None:
            # Wakes a read blocked in the worker, so that its thread ends now too.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _connection(
    endpoint: Endpoint, timeout: float, proxy: Proxy | None
) -> http.client.HTTPConnection:
    """To the webhook, or to the proxy (tunnelled by CONNECT for https, TLS to the webhook)."""
    host, port = (endpoint.host, endpoint.port) if proxy is None else (proxy.host, proxy.port)
    if not endpoint.https:
        return http.client.HTTPConnection(host, port, timeout=timeout)
    import ssl  # noqa: PLC0415 - only an https webhook pays for it

    context = ssl.create_default_context()
    connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    if proxy is not None:
        tunnel = {} if proxy.authorization is None else {"Proxy-Authorization": proxy.authorization}
        connection.set_tunnel(endpoint.host, endpoint.port, headers=tunnel)
    return connection


def _retry_after(response: http.client.HTTPResponse, data: bytes) -> float | None:
    """Discord's wait in seconds: `retry_after` in the JSON body, else the Retry-After header."""
    with contextlib.suppress(ValueError):
        answer = json.loads(data)
        if isinstance(answer, dict) and type(answer.get("retry_after")) in (int, float):
            return _wait(answer["retry_after"])
    header = response.getheader("Retry-After", "")
    with contextlib.suppress(ValueError):  # an HTTP date is not honoured: Discord sends seconds
        return _wait(float(header))
    return None


def _wait(value: float) -> float | None:
    return value if math.isfinite(value) and value >= 0 else None


# Causes by type, most specific first. An exception's own text is never logged: some carry
# the request's URL, whose path is the webhook's token.
_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "timed out"),
    (ConnectionRefusedError, "connection refused"),
    (socket.gaierror, "name lookup failed"),
    (ConnectionError, "connection lost"),
    (http.client.HTTPException, "not an HTTP answer"),
)


# http.client's words for a CONNECT the proxy refused; the status is kept, the proxy's text not.
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})\b")


def _cause(exc: Exception) -> str:
    refused = _TUNNEL_REFUSED.match(str(exc)) if type(exc) is OSError else None
    if refused is not None:
        return f"the proxy refused the connection (HTTP {refused.group(1)})"
    for kind, cause in _CAUSES:
        if isinstance(exc, kind):
            return cause
    if type(exc).__module__ == "ssl":
        return "TLS failed"
    if isinstance(exc, OSError):
        return f"network error ({exc.strerror or type(exc).__name__})"
    return f"unexpected {type(exc).__name__}"


__all__ = ["HEADERS", "TIMEOUT_VARIABLE", "Endpoint", "deliver"]
