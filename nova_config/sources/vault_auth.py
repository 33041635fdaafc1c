"""Logging in to Vault: the cached login, one login at a time per credential, renewal.

`VaultClient.login` comes here. A login is kept for the process (`vault_logins.py`), shared by
threads, renewed (or made again) once 80% of its lease has passed, and replaced once when found
revoked. Its requests go through the client's own `request`, bounded by the load's deadline.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nova_config.errors import StoreAccessError, StoreUnavailableError
from nova_config.sources.common import shown_url
from nova_config.sources.transport import deadline_session
from nova_config.sources.vault_errors import DENIED, REFUSED, judge
from nova_config.sources.vault_logins import Login, cached, drop, fresh, keep, lock_for

if TYPE_CHECKING:
    from nova_config.sources.vault_client import VaultClient
    from nova_config.sources.vault_config import Credentials

logger = logging.getLogger("nova_config")
_warned_skip_verify: set[str] = set()


def log_in(
    client: VaultClient,
    hvac: Any,
    key: tuple[object, ...],
    credentials: Credentials,
    deadline: float,
    *,
    stale: Login | None = None,
) -> Login:
    """The cached login for `key` if still good, else one new login shared by all threads.

    Args:
        client: the Vault the login is for.
        hvac: the hvac module.
        key: the login's cache key (`VaultConfig.login_key`).
        credentials: how to log in.
        deadline: the `time.monotonic()` by which the login must be done.
        stale: a login found revoked; replaced unless another thread already did.

    Raises:
        StoreUnavailableError: no login before the deadline.
        StoreAccessError: the credentials were refused.
    """
    login = cached(key)
    if login is not None and login is not stale and fresh(login):
        return login
    lock = lock_for(key)
    if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise client.fail(StoreUnavailableError, client.deadline_passed())
    try:
        login = cached(key)
        if login is not None and login is stale:
            drop(key, login)
            login = None
        if login is not None and fresh(login):
            return login  # another thread logged in while this one waited
        return _new_login(client, hvac, key, credentials, deadline, expired=login)
    finally:
        lock.release()


def _new_login(
    client: VaultClient,
    hvac: Any,
    key: tuple[object, ...],
    credentials: Credentials,
    deadline: float,
    *,
    expired: Login | None,
) -> Login:
    if expired is not None and expired.renewable:
        renewed = client.request(expired.client, "POST", "v1/auth/token/renew-self", deadline)
        if judge(renewed) is None:
            return _remember(key, expired, renewed.body)
    hvac_client = _hvac_client(client, hvac, credentials)
    if credentials.login_path is None:
        return keep(key, Login(hvac_client, None, False))
    reply = client.request(
        hvac_client, "POST", credentials.login_path, deadline, body=credentials.login_body()
    )
    if judge(reply) in (REFUSED, DENIED):
        raise client.fail(
            StoreAccessError, f"{credentials.label} was refused (invalid or expired credentials)"
        )
    auth = reply.body.get("auth") if judge(reply) is None else None
    if not isinstance(auth, dict) or not auth.get("client_token"):
        raise client.fail(StoreAccessError, f"{credentials.label} failed (HTTP {reply.status})")
    hvac_client.token = auth["client_token"]
    return _remember(key, Login(hvac_client, None, False), reply.body)


def _hvac_client(client: VaultClient, hvac: Any, credentials: Credentials) -> Any:
    """A new hvac client on a deadline session, carrying the configured TLS and proxies."""
    from requests.utils import get_environ_proxies  # noqa: PLC0415 - hvac's transport

    config = client.config
    session = deadline_session()
    # requests looks up proxy variables and netrc on every request when trust_env is on, which
    # costs more than the read itself against a nearby server; the proxies for this address
    # are looked up once instead (NO_PROXY still applies).
    session.proxies = get_environ_proxies(config.addr)
    session.trust_env = False
    # hvac lets a session's own `verify` override the one it is given, and a new session
    # verifies against requests' bundle: the session carries the configured TLS itself.
    session.verify = config.verify
    session.cert = config.cert
    if config.verify is False:
        for node in config.nodes:
            _skip_verify_warning(shown_url(node))
    # hvac holds the session and the token; every request is sent by VaultClient.request,
    # which follows redirects itself (hvac's adapter would follow them to any host).
    return hvac.Client(
        session=session,
        url=config.addr,
        token=credentials.token or "",
        namespace=config.namespace,
        verify=config.verify,
        cert=config.cert,
        timeout=config.timeout,
        allow_redirects=False,
        adapter=hvac.adapters.RawAdapter,
    )


def _remember(key: tuple[object, ...], login: Login, body: dict[str, Any]) -> Login:
    auth = body.get("auth") or {}
    lease = float(auth.get("lease_duration") or 0)
    # Renew (or log in again) once 80% of the lease has passed, not at the last moment.
    expires = time.monotonic() + lease * 0.8 if lease else None
    return keep(key, Login(login.client, expires, bool(auth.get("renewable"))))


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


__all__ = ["log_in"]
