"""Vault's client: the session and login cache, renewal, and one request with its retries.

The source (`vault.py`) decides what to read and what an answer means; this module decides how
to reach Vault: one authenticated client per process and credential, shared by threads (one
login at a time per credential) and dropped in a forked child, and requests bounded by the
load's deadline that follow a redirect only to VAULT_ADDR itself.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from nova_config.errors import SourceError, StoreUnavailableError
from nova_config.hidden import HiddenDict, HiddenStr
from nova_config.sources.common import shown_url
from nova_config.sources.transport import RedirectRefused, follow, origin
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

if TYPE_CHECKING:
    import hvac
    import requests

    from nova_config.sources.vault_config import VaultConfig

logger = logging.getLogger("nova_config")

LOOKUP_SELF = "v1/auth/token/lookup-self"
# sys/health's codes for a node that cannot serve: a standby, a performance or DR secondary, a
# standby cut off from the active node. A KV read rarely answers them, but a proxy in front of
# one node may; each moves a cluster's walk on to the next node, as 5xx and sealed do.
STANDBY_STATUSES = frozenset({429, 472, 473, 474})
# What sys/health's codes say of a node.
HEALTH = {
    429: "a standby",
    472: "a disaster-recovery secondary",
    473: "a performance standby",
    474: "a standby cut off from the active node",
    501: "not initialised",
    503: "sealed",
}
# The longest pause between two rounds through a cluster's nodes (an election takes ~2 s).
MAX_CLUSTER_PAUSE = 0.4


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


class _Failure(NamedTuple):
    """Why one try got no answer, and whether another try could help."""

    cause: str
    final: bool = False
    refused: bool = False  # a redirect that is not followed


class _Call(NamedTuple):
    """One API call, as every node is sent it."""

    client: hvac.Client
    method: str
    url: str
    prepared: dict[str, requests.PreparedRequest] | None
    payload: tuple[Mapping[str, Any] | None, str | None]


@dataclass
class _Walk:
    """One request's way through the nodes: those still worth trying, and why each failed."""

    live: list[str]
    rounds: int = 0
    attempts: int = 0
    causes: dict[str, tuple[str, str]] = field(default_factory=dict)  # node: (cause, state)
    refused: dict[str, str] = field(default_factory=dict)  # node: the redirect refused

    def note(self, node: str, cause: str, state: str, *, final: bool = False) -> None:
        """Why a node gave no answer; a final reason (sealed, TLS, a redirect) drops it."""
        self.causes[node] = (cause, state)
        if final:
            self.live.remove(node)


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
        prepared: dict[str, requests.PreparedRequest] | None = None,
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
        walk = _Walk(in_order(self.config.nodes))
        call = _Call(client, method, url, prepared, (body, content_type))
        rounds = self.config.retries + 1
        cluster = len(walk.live) > 1
        # A cluster in an election answers nothing for a few seconds: the deadline, not the
        # number of retries, ends its walk.
        while walk.live and (cluster or walk.rounds < rounds):
            remaining = deadline - time.monotonic()
            if walk.rounds and remaining > 0:
                pause = 0.2 * 2 ** (walk.rounds - 1)
                time.sleep(min(min(pause, MAX_CLUSTER_PAUSE) if cluster else pause, remaining))
                remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            walk.rounds += 1
            reply = self._round(call, walk, deadline)
            if reply is not None:
                return reply
        raise self._walk_failed(walk, deadline)

    def _round(self, call: _Call, walk: _Walk, deadline: float) -> Reply | None:
        """One try of each node still worth trying; an answer that means something, or None."""
        for node in list(walk.live):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            walk.attempts += 1
            outcome = self._attempt(call.client, self._prepare(call, node), deadline, remaining)
            if isinstance(outcome, _Failure):
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
            cannot = (
                None
                if verdict in (None, DENIED) or not cluster
                else self._health(call, node, deadline)
            )
            if cannot is None:
                worked(self.config.nodes, node)
                return outcome
            walk.note(node, f"HTTP {outcome.status}, {cannot}", "unreachable")
        return None

    def _health(self, call: _Call, node: str, deadline: float) -> str | None:
        """Why a cluster's node that answered a failure cannot serve, from its sys/health.

        A standby without an active node answers a KV read from its own state (400 while it
        waits, then 404 for a secret that exists): such an answer is not the cluster's. None
        when the node is the active one (its answer stands). Bounded by the timeout: a node
        that just answered answers this at once.
        """
        probe = call._replace(
            method="GET", url="v1/sys/health", prepared=None, payload=(None, None)
        )
        deadline = time.monotonic() + self.config.timeout
        health = self._attempt(
            call.client, self._prepare(probe, node), deadline, self.config.timeout
        )
        if isinstance(health, _Failure):
            return f"sys/health: {health.cause}"
        if health.status == 200:
            return None
        return f"sys/health {health.status}: {HEALTH.get(health.status, 'cannot serve')}"

    def _walk_failed(self, walk: _Walk, deadline: float) -> SourceError:
        """The error of a request no node answered: each node's last reason, the attempts."""
        tries = f"{walk.attempts} attempt" + ("s" if walk.attempts != 1 else "")
        if deadline - time.monotonic() <= 0:
            tries += f"; the {self.config.deadline:g} s deadline (NOVA_VAULT_DEADLINE) has passed"
        if len(self.config.nodes) == 1:
            node = self.config.nodes[0]
            if node in walk.refused:
                return self.fail(StoreUnavailableError, walk.refused[node])
            cause, state = walk.causes.get(node, ("", "unreachable"))
            return self.fail(StoreUnavailableError, f"{state} ({cause or 'no answer'}; {tries})")
        states = {state for _, state in walk.causes.values()}
        state = states.pop() if len(states) == 1 else "unreachable"
        causes = "; ".join(
            f"{shown_url(node)}: {walk.causes[node][0] if node in walk.causes else 'not tried'}"
            for node in self.config.nodes
        )
        return self.fail(StoreUnavailableError, f"{state} ({causes}; {tries})")

    def _attempt(
        self,
        client: hvac.Client,
        request: requests.PreparedRequest,
        deadline: float,
        remaining: float,
    ) -> Reply | _Failure:
        """One try: Vault's answer, or why there is none (never an exception's own text)."""
        import requests  # noqa: PLC0415 - hvac's own transport, present whenever hvac is

        try:
            response = follow(
                client.session,
                request,
                self._origins,
                deadline,
                timeout=min(self.config.timeout, remaining),
                verify=self.config.verify,
                cert=self.config.cert,
                proxies=self._proxies(client, request.url or ""),
            )
        except RedirectRefused as exc:
            return _Failure(str(exc), final=True, refused=True)
        except requests.exceptions.RequestException as exc:
            cause = transport_cause(exc, requests)
            if deadline - time.monotonic() <= 0 and cause != "connect timed out":
                cause = "no answer in time"  # a read cut at the deadline
            # A certificate problem does not go away on retry.
            return _Failure(cause, final=isinstance(exc, requests.exceptions.SSLError))
        except (OSError, ValueError) as exc:
            # Raised by requests or urllib3 outside their own hierarchy (a CA bundle that
            # cannot be loaded, a header refused): named by type, since the text may quote a
            # header, and a token is one.
            return _Failure(f"the request could not be sent ({type(exc).__name__})", final=True)
        return reply_of(response)

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

    def _prepare(self, call: _Call, node: str) -> requests.PreparedRequest:
        """The request to one node with the headers hvac's adapter sends; KV reads are
        prepared once per node.

        A body goes as JSON, under `content_type` when one is given (KV v2 takes a PATCH only
        as a merge patch).
        """
        import requests  # noqa: PLC0415 - hvac's own transport, present whenever hvac is

        client, prepared = call.client, call.prepared
        # The login's client was made for the first node; the others share its token.
        base = client.adapter.base_uri if node == self.config.addr else node
        full = f"{base}/{call.url}"
        request = None if prepared is None else prepared.get(full)
        if request is None:
            body, content_type = call.payload
            # Hidden from repr, as the body is: the token and the values are in them.
            headers: HiddenDict[str, str] = HiddenDict({"X-Vault-Request": "true"})
            if client.token:
                headers["X-Vault-Token"] = client.token
            if self.config.namespace:
                headers["X-Vault-Namespace"] = self.config.namespace
            data = None if body is None else HiddenStr(json.dumps(body))
            if data is not None:
                headers["Content-Type"] = content_type or "application/json"
            # Building a request in requests (cookies, merged settings, header checks) costs
            # about as much as a read from a nearby server: KV reads keep theirs per client.
            request = client.session.prepare_request(
                requests.Request(call.method, full, headers=headers, data=data)
            )
            if prepared is not None:
                prepared[full] = request
        return request


__all__ = [
    "LOOKUP_SELF",
    "VaultClient",
    "is_plaintext_remote",
]
