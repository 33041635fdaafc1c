"""Vault's client: one request with its retries, walked through a cluster's nodes.

The source (`vault.py`) decides what to read and what an answer means; this module decides how
to reach Vault: the login kept per process and credential (`vault_auth.py`), requests sent over
kept-alive connections (`connections.py`; requests for a node behind a proxy), bounded by the
load's deadline, following a redirect only to VAULT_ADDR itself (or another of its nodes).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from nova_config.errors import SourceError, StoreUnavailableError
from nova_config.hidden import HiddenDict, HiddenStr
from nova_config.sources.connections import connections
from nova_config.sources.transport import (
    RedirectRefused,
    Send,
    basic_auth,
    follow,
    origin,
    via_requests,
)
from nova_config.sources.vault_auth import log_in
from nova_config.sources.vault_errors import (
    DENIED,
    SEALED,
    Reply,
    judge,
    reply_of,
    transport_cause,
)
from nova_config.sources.vault_logins import (
    in_order,
    worked,
)
from nova_config.sources.vault_nodes import (
    HEALTH,
    STANDBY_STATUSES,
    Failure,
    Walk,
    walk_failed,
)

if TYPE_CHECKING:
    import hvac

    from nova_config.sources.vault_config import VaultConfig

logger = logging.getLogger("nova_config")

LOOKUP_SELF = "v1/auth/token/lookup-self"
# Sent with every request: hvac's request marker, and who is asking (requests named itself).
HEADERS = {"X-Vault-Request": "true", "User-Agent": "nova-config"}


# Addresses already judged (warned or not): the judgement parses the host, once per address.
_judged_plaintext: set[str] = set()


def is_plaintext_remote(addr: str) -> bool:
    """Whether an address is plain http to another machine (loopback over http is fine)."""
    parts = urlsplit(addr)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


class _Call(NamedTuple):
    """One API call, as every node is sent it."""

    client: hvac.Client
    method: str
    url: str
    headers: Mapping[str, str]  # a HiddenDict: the token is one of them
    body: str | None  # a HiddenStr: the values are in it


class VaultClient:
    """How one load talks to Vault: its configuration, the origin redirects may go to, messages."""

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        # A redirect may lead to any node of the list (a standby's 307 to the active node).
        self._origins = frozenset(origin(addr) for addr in config.nodes)
        self._node_proxies: dict[str, Any] = {}

    def fail(self, kind: type[SourceError], cause: str) -> SourceError:
        """The error of this Vault, its address (without userinfo) first."""
        return kind(f"vault at {self.config.shown}: {cause}")

    def deadline_passed(self) -> str:
        deadline = f"{self.config.deadline:g} s deadline (NOVA_VAULT_DEADLINE)"
        return f"unreachable (no answer within the {deadline})"

    def warn_plaintext(self) -> None:
        addr = self.config.shown
        if addr in _judged_plaintext:
            return
        _judged_plaintext.add(addr)
        if is_plaintext_remote(addr):
            logger.warning(
                "vault at %s is plain http: tokens and secrets cross the network unencrypted; "
                "use https outside a local development server",
                addr,
            )

    # The cached login for a key if still good, else one new login shared by all threads.
    login = log_in

    def request(
        self,
        client: hvac.Client,
        method: str,
        url: str,
        deadline: float,
        *,
        body: Mapping[str, Any] | None = None,
        content_type: str | None = None,
    ) -> Reply:
        """One API call with retries on transport errors and busy answers, within the deadline.

        Every read of the answer is bounded by the deadline too (a trickling server), and a
        redirect is followed only once and only to VAULT_ADDR itself (or, for a cluster, to
        one of its nodes). A cluster's nodes are tried in turn, the last that answered first,
        round after round until one answers or the deadline passes.

        Raises:
            StoreUnavailableError: unreachable, sealed, redirected elsewhere, or no answer
                before the deadline (for a cluster: from every node, each named with why).
        """
        walk = Walk(in_order(self.config.nodes))
        call = _Call(client, method, url, *self._payload(client, body, content_type))
        rounds = self.config.retries + 1
        cluster = len(walk.live) > 1
        # A cluster in an election answers nothing for a few seconds: the deadline, not the
        # number of retries, ends its walk.
        while walk.live and (cluster or walk.rounds < rounds):
            remaining = deadline - time.monotonic()
            if walk.rounds and remaining > 0:
                time.sleep(min(walk.pause(cluster), remaining))
                remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            walk.rounds += 1
            reply = self._round(call, walk, deadline)
            if reply is not None:
                return reply
        raise self.fail(StoreUnavailableError, walk_failed(self.config, walk, deadline))

    def _payload(
        self, client: hvac.Client, body: Mapping[str, Any] | None, content_type: str | None
    ) -> tuple[HiddenDict[str, str], HiddenStr | None]:
        """The headers hvac's adapter sends, and the body as JSON (under `content_type` when
        given: KV v2 takes a PATCH only as a merge patch); both hidden from repr."""
        headers: HiddenDict[str, str] = HiddenDict(HEADERS)
        if client.token:
            headers["X-Vault-Token"] = client.token
        if self.config.namespace:
            headers["X-Vault-Namespace"] = self.config.namespace
        data = None if body is None else HiddenStr(json.dumps(body))
        if data is not None:
            headers["Content-Type"] = content_type or "application/json"
        return headers, data

    def _round(self, call: _Call, walk: Walk, deadline: float) -> Reply | None:
        """One try of each node still worth trying; an answer that means something, or None."""
        for node in list(walk.live):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            walk.attempts += 1
            outcome = self._attempt(call, node, deadline, remaining)
            if isinstance(outcome, Failure):
                walk.note(node, outcome.cause, "unreachable", final=outcome.final)
                if outcome.refused:
                    walk.refused[node] = outcome.cause
                continue
            verdict = judge(outcome)
            cluster = len(self.config.nodes) > 1
            if verdict is SEALED:
                if not cluster:
                    raise self.fail(StoreUnavailableError, "sealed (unseal it, or fix VAULT_ADDR)")
                walk.note(node, "sealed", "unreachable", final=True)
                continue
            standby = cluster and outcome.status in STANDBY_STATUSES
            if verdict is not None and (verdict.retry or standby):
                walk.note(node, f"HTTP {outcome.status}", verdict.meaning)
                continue
            cannot = None if verdict in (None, DENIED) or not cluster else self._health(call, node)
            if cannot is None:
                worked(self.config.nodes, node)
                return outcome
            walk.note(node, f"HTTP {outcome.status}, {cannot}", "unreachable")
        return None

    def _health(self, call: _Call, node: str) -> str | None:
        """Why a cluster's node that answered a failure cannot serve, from its sys/health.

        A standby without an active node answers a KV read from its own state (400 while it
        waits, then 404 for a secret that exists): such an answer is not the cluster's. None
        when the node is the active one (its answer stands). Bounded by the timeout: a node
        that just answered answers this at once.
        """
        probe = call._replace(method="GET", url="v1/sys/health", body=None)
        deadline = time.monotonic() + self.config.timeout
        health = self._attempt(probe, node, deadline, self.config.timeout)
        if isinstance(health, Failure):
            return f"sys/health: {health.cause}"
        if health.status == 200:
            return None
        return f"sys/health {health.status}: {HEALTH.get(health.status, 'cannot serve')}"

    def _attempt(
        self, call: _Call, node: str, deadline: float, remaining: float
    ) -> Reply | Failure:
        """One try: Vault's answer, or why there is none (never an exception's own text)."""
        # The login's client was made for the first node; the others share its token.
        base = call.client.adapter.base_uri if node == self.config.addr else node
        url = HiddenStr(f"{base}/{call.url}")  # VAULT_ADDR may hold a user and password
        try:
            answer = follow(self._sender(call, url, remaining), url, self._origins, deadline)
        except RedirectRefused as exc:
            return Failure(str(exc), final=True, refused=True)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            cause, final = transport_cause(exc)
            return Failure(self._late(cause, deadline), final=final)
        return reply_of(answer.status, answer.body)

    @staticmethod
    def _late(cause: str, deadline: float) -> str:
        """A read cut at the deadline is named so, whatever the socket said."""
        past = deadline - time.monotonic() <= 0 and cause != "connect timed out"
        return "no answer in time" if past else cause

    def _sender(self, call: _Call, url: str, remaining: float) -> Send:
        """How `follow` sends this call: kept-alive connections, or requests through a proxy."""
        from requests.utils import select_proxy  # noqa: PLC0415 - hvac's transport

        timeout = min(self.config.timeout, remaining)
        config = self.config
        headers = call.headers
        auth = basic_auth(url)  # a user and password in VAULT_ADDR, as requests sends them
        if auth is not None:
            headers = HiddenDict({**headers, "Authorization": auth})
        proxies = self._proxies(call.client, url)
        if proxies and select_proxy(url, proxies) is not None:
            return via_requests(
                call.client.session,
                call.method,
                headers,
                call.body,
                timeout=timeout,
                verify=config.verify,
                cert=config.cert,
                proxies=proxies,
            )

        def send(target: str) -> Any:
            return connections.send(
                call.method,
                target,
                headers,
                call.body,
                timeout=timeout,
                verify=config.verify,
                cert=config.cert,
            )

        return send

    def _proxies(self, client: hvac.Client, url: str) -> Any:
        """The proxies for a node: the login's for the first, looked up once per load for others.

        NO_PROXY may tell a cluster's nodes apart.
        """
        if url.startswith(f"{self.config.addr}/"):
            return client.session.proxies
        node = url[: url.index("/v1/")] if "/v1/" in url else url
        found = self._node_proxies.get(node)
        if found is None:
            from requests.utils import get_environ_proxies  # noqa: PLC0415 - hvac's transport

            found = self._node_proxies[node] = get_environ_proxies(node)
        return found


__all__ = [
    "LOOKUP_SELF",
    "VaultClient",
    "is_plaintext_remote",
]
