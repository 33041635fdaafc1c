"""Alerts on security-relevant load outcomes, posted to a Discord webhook within a time bound.

Nothing here raises or changes a load's outcome: an alert not sent is a warning that names the
endpoint by host and port only (a webhook URL's path is its token). At most one alert per
(kind, store, environment) and host goes out per `WINDOW`, across processes, kept in a JSON
file under `flock`; if that file cannot be used the alert is sent anyway (alerts matter more
than duplicates).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

from nova_config.alert_post import TIMEOUT_VARIABLE, deliver
from nova_config.alert_proxy import proxy_for
from nova_config.alert_state import StateBusy, claim, state_path
from nova_config.errors import SourceConfigError
from nova_config.sources.common import seconds
from nova_config.sources.transport import origin

logger = logging.getLogger("nova_config")

WEBHOOK_VARIABLE = "NOVA_ALERT_WEBHOOK"
DEFAULT_TIMEOUT = 2.0
MAX_CONTENT = 2000  # Discord refuses a longer message
MAX_FIELD = 200  # settings, environment, host and store, so that the reason keeps its room
HIDDEN = "[hidden]"

# Pieces of a webhook URL this long are hidden wherever they appear: Discord's id and token,
# a relay's key in a query. Shorter ones ("api", "webhooks") are words, not credentials.
_SECRET_PIECE = 16
_PIECES = re.compile(r"[/?&=#;]+")
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")


class Alert(NamedTuple):
    """One alert of a load: what happened, to which store, and why (never a value)."""

    kind: str  # "denied" | "store_failed" | "dotenv_in_production"
    store: str  # "vault", "aws", "dotenv", ...
    reason: str  # value-free message


class _Endpoint:
    """Where alerts go. Its repr and `shown` give host and port only: the path is a token."""

    __slots__ = ("_secrets", "host", "https", "port", "shown", "target")

    def __init__(self, url: str) -> None:
        scheme, host, port = origin(url)
        parts = urlsplit(url)
        if scheme not in {"http", "https"} or not host or port is None:
            raise ValueError("not an http(s) URL")
        self.https = scheme == "https"
        self.host, self.port = host, port
        self.shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        tail = url.partition("://")[2][len(parts.netloc) :]  # path, query and fragment
        pieces = {url, tail, parts.netloc.rpartition("@")[0], *_PIECES.split(tail)}
        # Longest first, so that no part of a longer secret is left after a shorter one goes.
        self._secrets = sorted((p for p in pieces if len(p) >= _SECRET_PIECE), key=len)[::-1]

    def scrub(self, text: str) -> str:
        """`text` without the URL or any credential-sized piece of it."""
        for secret in self._secrets:
            text = text.replace(secret, HIDDEN)
        return text

    def __repr__(self) -> str:
        return f"_Endpoint({self.shown})"


def send_alerts(
    alerts: Sequence[Alert],
    *,
    settings: str,
    environment: str,
    environ: Mapping[str, str],
    app_webhook: str | None = None,
) -> None:
    """Post the alerts of one load to the webhook `NOVA_ALERT_WEBHOOK` names, within its bound.

    All of them, connections, retries and the state file's lock included, are done within
    `NOVA_ALERT_TIMEOUT` seconds (2 by default). Never raises: every failure is a warning.

    Args:
        alerts: the load's alerts; one of a (kind, store) already sent from this host in
            this environment within `WINDOW` is not sent again.
        settings: the settings class, as "module:Class".
        environment: the environment of the load.
        environ: the variables to read (`NOVA_ALERT_*`, `XDG_STATE_HOME`, `HOME`).
        app_webhook: the settings' resolved `discord_webhook_url`, used when the variable
            is `app`.
    """
    if not alerts:
        return
    try:
        _send(alerts, settings, environment, environ, app_webhook)
    except Exception as exc:  # alerts must never change a load's outcome
        logger.warning("nova-config alerts were not sent: unexpected %s", type(exc).__name__)


def _send(
    alerts: Sequence[Alert],
    settings: str,
    environment: str,
    environ: Mapping[str, str],
    app_webhook: str | None,
) -> None:
    start = time.monotonic()
    endpoint = _endpoint(environ, app_webhook)
    if endpoint is None:
        return
    deadline = start + _timeout(environ)
    host = socket.gethostname()
    proxy = proxy_for(endpoint.https, endpoint.host, environ)
    via = "" if proxy is None or isinstance(proxy, str) else f" through the proxy {proxy.shown}"
    for alert in _due(alerts, environment, host, environ, deadline):
        content = _content(alert, (settings, environment, host), endpoint)
        body = json.dumps({"content": content, "allowed_mentions": {"parse": []}}).encode()
        cause = proxy if isinstance(proxy, str) else deliver(endpoint, body, deadline, proxy)
        if cause is not None:
            what = _field(f"{alert.kind} ({alert.store})", endpoint)
            logger.warning("alert %s not sent to %s%s: %s", what, endpoint.shown, via, cause)


def _endpoint(environ: Mapping[str, str], app_webhook: str | None) -> _Endpoint | None:
    """The endpoint configured, or None (off, or unusable: then one warning, never a value)."""
    raw = environ.get(WEBHOOK_VARIABLE, "").strip()
    if not raw:
        return None
    url, what = raw, f"{WEBHOOK_VARIABLE} is neither an http(s) URL nor 'app'"
    if raw.lower() == "app":
        url = (app_webhook or "").strip()
        what = f"{WEBHOOK_VARIABLE} is 'app' but discord_webhook_url is not an http(s) URL"
    try:
        if not url or _UNSENDABLE.search(url):
            raise ValueError("empty, or with spaces or control characters")
        return _Endpoint(url)
    except ValueError:
        logger.warning("%s; no alert is sent", what)
        return None


def _timeout(environ: Mapping[str, str]) -> float:
    try:
        return seconds(environ, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)
    except SourceConfigError:
        logger.warning("%s must be positive seconds; %g used", TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)
        return DEFAULT_TIMEOUT


def _due(
    alerts: Sequence[Alert],
    environment: str,
    host: str,
    environ: Mapping[str, str],
    deadline: float,
) -> list[Alert]:
    """The alerts to send now (the first of each key), their send times recorded."""
    keyed: dict[str, Alert] = {}
    for alert in alerts:
        keyed.setdefault(f"{host}|{alert.kind}|{alert.store}|{environment}", alert)
    path = state_path(environ)
    try:
        if path is None:
            raise FileNotFoundError("neither HOME nor XDG_STATE_HOME is set")
        return [keyed[key] for key in claim(path, list(keyed), deadline)]
    except StateBusy:
        logger.warning("alert state %s stayed locked past %s; none sent", path, TIMEOUT_VARIABLE)
        return []
    except OSError as exc:  # a read-only home or a full disk must not silence alerts
        cause = exc.strerror or type(exc).__name__
        logger.warning("alert state %s unusable (%s); sent without rate limit", path, cause)
        return list(keyed.values())


def _field(text: str, endpoint: _Endpoint) -> str:
    # Backticks would end Discord's code span; a field is one short line.
    return endpoint.scrub(text).replace("`", "'").replace("\n", " ")[:MAX_FIELD]


def _content(alert: Alert, where: tuple[str, str, str], endpoint: _Endpoint) -> str:
    """The message: class, environment, host, store and reason, under Discord's limit."""
    settings, environment, host = (_field(text, endpoint) for text in where)
    head = (
        f"**nova-config alert: {_field(alert.kind, endpoint)}**\n"
        f"settings: `{settings}`\nenvironment: `{environment}`\nhost: `{host}`\n"
        f"store: `{_field(alert.store, endpoint)}`\nreason: "
    )
    # Hidden before it is cut, so that a cut cannot leave part of a secret unrecognised.
    reason = endpoint.scrub(alert.reason)
    room = MAX_CONTENT - len(head)
    if len(reason) > room:
        reason = reason[: room - 1] + "…"
    return head + reason


__all__ = ["Alert", "send_alerts"]
