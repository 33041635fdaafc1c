"""The proxy alerts go through: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`.

Read as requests and urllib read them: the lower-case name first, then the upper-case one; the
scheme's own variable, then `ALL_PROXY`. `NO_PROXY` entries are matched as curl and Go match
them: `*`, a host, a domain and its subdomains with or without the leading dot (on a label
boundary: requests' plain suffix test would also let `example.com` match `badexample.com`), an
IP address or CIDR range; a port in an entry is ignored.
Only `http://` proxies are supported: an https webhook is reached through one by `CONNECT`
(the proxy sees its host and port, never its path, which is the token), a plain http one by a
request in absolute form. A user and password in the proxy's URL go as `Proxy-Authorization`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from nova_config.sources.transport import basic_auth


class Proxy(NamedTuple):
    """An http:// proxy: where it is, and the `Proxy-Authorization` its URL asks for."""

    host: str
    port: int
    authorization: str | None
    shown: str  # host and port only: the URL may carry a password

    def __repr__(self) -> str:
        return f"Proxy({self.shown})"


def _variable(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The value of `name` (lower case first, as requests and urllib read it) and its name."""
    for candidate in (name.lower(), name.upper()):
        value = environ.get(candidate, "").strip()
        if value:
            return candidate, value
    return None


def bypassed(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY's comma list names `host` (a name, a domain suffix, an IP or a range)."""
    host = host.lower().strip("[]")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass  # a name: not an address's
            continue
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry  # a port is ignored
        domain = name.lstrip(".")
        if domain and (host == domain or host.endswith(f".{domain}")):
            return True
    return False


def proxy_for(https: bool, host: str, environ: Mapping[str, str]) -> Proxy | str | None:
    """The proxy to post to `host` through: None when there is none (or NO_PROXY names the
    host), or why the one configured cannot be used (words safe to log: no URL)."""
    scheme = "https" if https else "http"
    found = _variable(environ, f"{scheme}_proxy") or _variable(environ, "all_proxy")
    if found is None:
        return None
    name, raw = found
    bypass = _variable(environ, "no_proxy")
    if bypass is not None and bypassed(host, bypass[1]):
        return None
    parts = urlsplit(raw if "://" in raw else f"http://{raw}")
    try:
        port = parts.port or 80
    except ValueError:  # a port that is not a number or out of range
        port = 0
    if parts.scheme != "http" or not parts.hostname or not port:
        return f"{name} is not an http:// proxy address (only those are supported)"
    try:
        authorization = basic_auth(raw if "://" in raw else f"http://{raw}")
    except UnicodeEncodeError:
        return f"{name} holds a user or password that is not Latin-1"
    shown = f"[{parts.hostname}]:{port}" if ":" in parts.hostname else f"{parts.hostname}:{port}"
    return Proxy(parts.hostname, port, authorization, shown)


__all__ = ["Proxy", "bypassed", "proxy_for"]
