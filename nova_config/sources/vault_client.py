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
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from nova_config.errors import SourceError, StoreAccessError, StoreUnavailableError
from nova_config.hidden import HiddenDict, HiddenStr
from nova_config.sources.transport import RedirectRefused, deadline_session, follow, origin
from nova_config.sources.vault_errors import (
    DENIED,
    REFUSED,
    SEALED,
    Reply,
    judge,
    reply_of,
    transport_cause,
)
from nova_config.sources.vault_logins import Login, cached, drop, fresh, keep, lock_for

if TYPE_CHECKING:
    import hvac
    import requests

    from nova_config.sources.vault_config import Credentials, VaultConfig

logger = logging.getLogger("nova_config")

LOOKUP_SELF = "v1/auth/token/lookup-self"


# Addresses already judged (warned or not): the judgement parses the host, once per address.
_judged_plaintext: set[str] = set()
_warned_skip_verify: set[str] = set()


def _skip_verify_warning(addr: str) -> None:
    """One warning of our own instead of urllib3's, which it repeats on every request."""
    if addr in _warned_skip_verify:
        return
    _warned_skip_verify.add(addr)
    import warnings  # noqa: PLC0415 - only with VAULT_SKIP_VERIFY

    from urllib3.exceptions import InsecureRequestWarning  # noqa: PLC0415 - same

    host = urlsplit(addr).hostname or ""
    # Only for this Vault's host; other libraries' unverified requests still warn.
    warnings.filterwarnings(
        "ignore", message=rf".*host '{re.escape(host)}'", category=InsecureRequestWarning
    )
    logger.warning(
        "VAULT_SKIP_VERIFY is set: the certificate of vault at %s is not checked, so anyone "
        "on the network path can read the token and the secrets; set VAULT_CACERT instead",
        addr,
    )


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


class VaultClient:
    """How one load talks to Vault: its configuration, the origin redirects may go to, messages."""

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        self._origin = origin(config.addr)

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

    def login(
        self,
        hvac: Any,
        key: tuple[object, ...],
        credentials: Credentials,
        deadline: float,
        stale: Login | None = None,
    ) -> Login:
        """The cached login for `key` if still good, else one new login shared by all threads.

        Args:
            stale: a login found revoked; replaced unless another thread already did.
        """
        login = cached(key)
        if login is not None and login is not stale and fresh(login):
            return login
        lock = lock_for(key)
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise self.fail(StoreUnavailableError, self.deadline_passed())
        try:
            login = cached(key)
            if login is not None and login is stale:
                drop(key, login)
                login = None
            if login is not None and fresh(login):
                return login  # another thread logged in while this one waited
            return self._new_login(hvac, key, credentials, deadline, login)
        finally:
            lock.release()

    def _new_login(
        self,
        hvac: Any,
        key: tuple[object, ...],
        credentials: Credentials,
        deadline: float,
        expired: Login | None,
    ) -> Login:
        if expired is not None and expired.renewable:
            renewed = self.request(expired.client, "POST", "v1/auth/token/renew-self", deadline)
            if judge(renewed) is None:
                return self._remember(key, expired.client, renewed.body)
        from requests.utils import get_environ_proxies  # noqa: PLC0415 - hvac's transport

        session = deadline_session()
        # requests looks up proxy variables and netrc on every request when trust_env is on,
        # which costs more than the read itself against a nearby server; the proxies for
        # this address are looked up once instead (NO_PROXY still applies).
        session.proxies = get_environ_proxies(self.config.addr)
        session.trust_env = False
        # hvac lets a session's own `verify` override the one it is given, and a new session
        # verifies against requests' bundle: the session carries the configured TLS itself.
        session.verify = self.config.verify
        session.cert = self.config.cert
        if self.config.verify is False:
            _skip_verify_warning(self.config.shown)
        # hvac holds the session and the token; every request is sent by _request, which
        # follows redirects itself (hvac's adapter would follow them to any host).
        client = hvac.Client(
            session=session,
            url=self.config.addr,
            token=credentials.token or "",
            namespace=self.config.namespace,
            verify=self.config.verify,
            cert=self.config.cert,
            timeout=self.config.timeout,
            allow_redirects=False,
            adapter=hvac.adapters.RawAdapter,
        )
        if credentials.login_path is None:
            return keep(key, Login(client, None, False, {}))
        reply = self.request(
            client, "POST", credentials.login_path, deadline, body=credentials.login_body()
        )
        if judge(reply) in (REFUSED, DENIED):
            raise self.fail(
                StoreAccessError,
                f"{credentials.label} was refused (invalid or expired credentials)",
            )
        auth = reply.body.get("auth") if judge(reply) is None else None
        if not isinstance(auth, dict) or not auth.get("client_token"):
            raise self.fail(StoreAccessError, f"{credentials.label} failed (HTTP {reply.status})")
        client.token = auth["client_token"]
        return self._remember(key, client, reply.body)

    @staticmethod
    def _remember(key: tuple[object, ...], client: hvac.Client, body: dict[str, Any]) -> Login:
        auth = body.get("auth") or {}
        lease = float(auth.get("lease_duration") or 0)
        # Renew (or log in again) once 80% of the lease has passed, not at the last moment.
        expires = time.monotonic() + lease * 0.8 if lease else None
        return keep(key, Login(client, expires, bool(auth.get("renewable")), {}))

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
        redirect is followed only once and only to VAULT_ADDR itself.

        Raises:
            StoreUnavailableError: unreachable, sealed, redirected elsewhere, or no answer
                before the deadline.
        """
        cause, state, attempts, refused = "", "unreachable", 0, ""
        for attempt in range(self.config.retries + 1):
            remaining = deadline - time.monotonic()
            if attempt and remaining > 0:
                time.sleep(min(0.2 * 2 ** (attempt - 1), remaining))
                remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            attempts += 1
            request = self._prepare(client, method, url, prepared, (body, content_type))
            outcome = self._attempt(client, request, deadline, remaining)
            if isinstance(outcome, _Failure):
                cause, state = outcome.cause, "unreachable"
                refused = cause if outcome.refused else ""
                if outcome.final:
                    break
                continue
            verdict = judge(outcome)
            if verdict is SEALED:
                raise self.fail(StoreUnavailableError, "sealed (unseal it, or fix VAULT_ADDR)")
            if verdict is None or not verdict.retry:
                return outcome
            cause, state = f"HTTP {outcome.status}", verdict.meaning
        if refused:
            raise self.fail(StoreUnavailableError, refused)
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        if deadline - time.monotonic() <= 0:
            tries += f"; the {self.config.deadline:g} s deadline (NOVA_VAULT_DEADLINE) has passed"
        raise self.fail(StoreUnavailableError, f"{state} ({cause or 'no answer'}; {tries})")

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
                self._origin,
                deadline,
                timeout=min(self.config.timeout, remaining),
                verify=self.config.verify,
                cert=self.config.cert,
                proxies=client.session.proxies,
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

    def _prepare(
        self,
        client: hvac.Client,
        method: str,
        url: str,
        prepared: dict[str, requests.PreparedRequest] | None,
        payload: tuple[Mapping[str, Any] | None, str | None],
    ) -> requests.PreparedRequest:
        """The request with the headers hvac's adapter sends; KV reads are prepared once.

        A body goes as JSON, under `content_type` when one is given (KV v2 takes a PATCH only
        as a merge patch).
        """
        import requests  # noqa: PLC0415 - hvac's own transport, present whenever hvac is

        request = None if prepared is None else prepared.get(url)
        if request is None:
            body, content_type = payload
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
                requests.Request(
                    method, f"{client.adapter.base_uri}/{url}", headers=headers, data=data
                )
            )
            if prepared is not None:
                prepared[url] = request
        return request


__all__ = [
    "LOOKUP_SELF",
    "VaultClient",
    "is_plaintext_remote",
]
