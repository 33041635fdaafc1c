"""HashiCorp Vault and OpenBao: KV v1/v2 secrets read with hvac, one request per path."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from nova_config.errors import (
    MissingExtraError,
    Problem,
    SourceConfigError,
    SourceError,
    StoreAccessError,
    StoreDataError,
    StoreUnavailableError,
)
from nova_config.fields import FieldPlan, normalise
from nova_config.sources.base import Found, LoadContext, Source, SourceResult

if TYPE_CHECKING:
    import hvac
    import requests

logger = logging.getLogger("nova_config")

# The Vault CLI's own default when VAULT_ADDR is unset.
DEFAULT_ADDR = "https://127.0.0.1:8200"
DEFAULT_PATHS = "nova-aetus/{environment},nova-aetus"
K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
MAX_PATH_WORKERS = 8
LOOKUP_SELF = "v1/auth/token/lookup-self"
# Status codes worth another attempt: the server is busy, restarting, or behind a proxy that is.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NO_CREDENTIALS = (
    "no credentials found (set VAULT_TOKEN, log in with the bao or vault CLI to write "
    "~/.vault-token, set VAULT_ROLE_ID and VAULT_SECRET_ID, or set VAULT_K8S_ROLE)"
)


def _number(environ: Mapping[str, str], name: str, default: float, *, whole: bool = False) -> float:
    raw = environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = -1
    if value < 0 or (value == 0 and not whole):
        kind = "a whole number of at least 0" if whole else "a positive number of seconds"
        raise SourceConfigError(f"{name} must be {kind}")
    return value


class VaultConfig(NamedTuple):
    """Where and how to read Vault, from the Vault CLI's variables and NOVA_VAULT_*."""

    addr: str
    namespace: str | None
    verify: bool | str
    cert: tuple[str, str] | str | None
    mount: str
    kv_version: int
    paths: tuple[str, ...]
    timeout: float
    deadline: float
    retries: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], environment: str) -> VaultConfig:
        """Read the configuration of one load.

        Raises:
            SourceConfigError: a variable holds a value the source cannot use.
        """
        addr = (environ.get("VAULT_ADDR") or DEFAULT_ADDR).strip().rstrip("/")
        parts = urlsplit(addr)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceConfigError("VAULT_ADDR must be an http:// or https:// address")
        skip = environ.get("VAULT_SKIP_VERIFY", "").strip().lower() in ("1", "true", "yes")
        verify: bool | str = (
            False if skip else environ.get("VAULT_CACERT") or environ.get("VAULT_CAPATH") or True
        )
        client_cert, client_key = environ.get("VAULT_CLIENT_CERT"), environ.get("VAULT_CLIENT_KEY")
        if client_key and not client_cert:
            raise SourceConfigError("VAULT_CLIENT_KEY is set without VAULT_CLIENT_CERT")
        cert = (client_cert, client_key) if client_cert and client_key else client_cert or None
        version = environ.get("NOVA_VAULT_KV_VERSION", "2").strip()
        if version not in ("1", "2"):
            raise SourceConfigError("NOVA_VAULT_KV_VERSION must be 1 or 2")
        mount = environ.get("NOVA_VAULT_MOUNT", "secret").strip().strip("/")
        if not mount:
            raise SourceConfigError("NOVA_VAULT_MOUNT is empty")
        paths: list[str] = []
        for raw in environ.get("NOVA_VAULT_PATH", DEFAULT_PATHS).split(","):
            try:
                path = raw.strip().format(environment=environment).strip("/")
            except (KeyError, IndexError, ValueError):
                raise SourceConfigError(
                    "NOVA_VAULT_PATH may use only the {environment} placeholder"
                ) from None
            if path and path not in paths:
                paths.append(path)
        if not paths:
            raise SourceConfigError("NOVA_VAULT_PATH names no path")
        return cls(
            addr=addr,
            namespace=environ.get("VAULT_NAMESPACE") or None,
            verify=verify,
            cert=cert,
            mount=mount,
            kv_version=int(version),
            paths=tuple(paths),
            timeout=_number(environ, "NOVA_VAULT_TIMEOUT", 3.0),
            deadline=_number(environ, "NOVA_VAULT_DEADLINE", 10.0),
            retries=int(_number(environ, "NOVA_VAULT_RETRIES", 2, whole=True)),
        )

    def url(self, path: str) -> str:
        """The API path that reads one secret path of the configured mount and KV version."""
        if self.kv_version == 2:
            return f"v1/{self.mount}/data/{path}"
        return f"v1/{self.mount}/{path}"


class Credentials:
    """How this load authenticates; its repr names the method, never the secret material."""

    __slots__ = ("_secret", "fingerprint", "label", "login_path")

    def __init__(self, label: str, secret: Mapping[str, str], login_path: str | None) -> None:
        self.label = label
        self.login_path = login_path
        self._secret = dict(secret)
        digest = hashlib.sha256(json.dumps(self._secret, sort_keys=True).encode())
        self.fingerprint = digest.hexdigest()

    @property
    def token(self) -> str | None:
        """The token itself, for token methods; None for login methods."""
        return None if self.login_path else self._secret["token"]

    def login_body(self) -> dict[str, str]:
        """The body of the login request (the role id and secret id, or the role and JWT)."""
        return dict(self._secret)

    def __repr__(self) -> str:
        return f"Credentials({self.label})"


def find_credentials(environ: Mapping[str, str]) -> Credentials:
    """The first auth method that applies: token, token file, AppRole, then Kubernetes.

    Raises:
        SourceConfigError: a method is half configured (a role id without a secret id).
        StoreAccessError: no method applies, or the Kubernetes token cannot be read.
    """
    token = environ.get("VAULT_TOKEN", "").strip()
    if token:
        return Credentials("the token in VAULT_TOKEN", {"token": token}, None)
    home = environ.get("HOME") or os.path.expanduser("~")
    token_file = os.path.join(home, ".vault-token")
    try:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError:
        token = ""
    if token:
        return Credentials(f"the token in {token_file}", {"token": token}, None)
    role_id, secret_id = environ.get("VAULT_ROLE_ID"), environ.get("VAULT_SECRET_ID")
    if role_id or secret_id:
        if not (role_id and secret_id):
            given, absent = (
                ("VAULT_ROLE_ID", "VAULT_SECRET_ID")
                if role_id
                else ("VAULT_SECRET_ID", "VAULT_ROLE_ID")
            )
            raise SourceConfigError(f"{given} is set but {absent} is not; AppRole needs both")
        mount = environ.get("VAULT_APPROLE_MOUNT", "approle").strip("/")
        return Credentials(
            f"AppRole login at auth/{mount}",
            {"role_id": role_id, "secret_id": secret_id},
            f"v1/auth/{mount}/login",
        )
    role = environ.get("VAULT_K8S_ROLE")
    if role:
        path = environ.get("VAULT_K8S_TOKEN_PATH", K8S_TOKEN_PATH)
        mount = environ.get("VAULT_K8S_MOUNT", "kubernetes").strip("/")
        try:
            with open(path, encoding="utf-8") as handle:
                jwt = handle.read().strip()
        except OSError as exc:
            raise StoreAccessError(
                f"VAULT_K8S_ROLE is set but the service-account token {path} cannot be read "
                f"({exc.strerror})"
            ) from None
        return Credentials(
            f"Kubernetes login as role {role} at auth/{mount}",
            {"role": role, "jwt": jwt},
            f"v1/auth/{mount}/login",
        )
    raise StoreAccessError(NO_CREDENTIALS)


class _Login(NamedTuple):
    """An authenticated client kept for the process, with when its token expires."""

    client: hvac.Client
    expires: float | None  # time.monotonic() deadline, None when the token does not expire
    lease: float
    renewable: bool
    # The KV reads, prepared once per client: building a request in requests (cookies, merged
    # settings, header checks) costs about as much as a read from a nearby server.
    prepared: dict[str, requests.PreparedRequest]


# One authenticated client per (address, TLS, namespace, credentials): a login costs a
# request and a TCP connection costs a handshake, and both would otherwise repeat every load.
_logins: dict[tuple[object, ...], _Login] = {}
_logins_lock = threading.Lock()
_warned_plaintext: set[str] = set()


def forget_logins() -> None:
    """Drop every cached Vault client (their tokens are not revoked)."""
    with _logins_lock:
        _logins.clear()


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


class _Reply(NamedTuple):
    status: int
    body: dict[str, Any]


class VaultSource(Source):
    """Reads every configured KV path once, concurrently, highest-priority path first."""

    name = "vault"

    def __init__(self, context: LoadContext) -> None:
        super().__init__(context)
        self.config = VaultConfig.from_environ(context.environ, context.environment)
        self._missing_paths: dict[str, str] = {}
        self._by_key: dict[str, FieldPlan] = {
            key: plan for plan in context.fields for key in plan.file_keys
        }

    @classmethod
    def skip_reason(cls, context: LoadContext) -> str | None:
        named = "vault" in context.environ.get("NOVA_SOURCES", "").lower()
        if context.environ.get("VAULT_ADDR") or named:
            return None
        return "vault: VAULT_ADDR is not set"

    def where(self) -> str:
        paths = ", ".join(f"{self.config.mount}/{p}" for p in self.config.paths)
        return f"{self.config.addr} {paths}"

    def places(self, plan: FieldPlan) -> str:
        names = ", ".join(dict.fromkeys((plan.name, plan.variable, *plan.aliases)))
        paths = ", ".join(
            f"{self.config.mount}/{p}"
            + (f" ({self._missing_paths[p]})" if p in self._missing_paths else "")
            for p in self.config.paths
        )
        return f"vault at {self.config.addr}: key {names} in {paths}"

    def _fail(self, kind: type[SourceError], cause: str) -> SourceError:
        return kind(f"vault at {self.config.addr}: {cause}")

    def load(self) -> SourceResult:
        try:
            import hvac  # noqa: PLC0415 - the SDK is needed only when Vault is used
        except ImportError:
            raise MissingExtraError(
                "the vault source needs hvac: pip install 'nova-config[vault]'"
            ) from None
        self._warn_plaintext()
        credentials = find_credentials(self.context.environ)
        deadline = time.monotonic() + self.config.deadline
        key = (
            self.config.addr,
            self.config.namespace,
            self.config.verify,
            self.config.cert,
            credentials.fingerprint,
        )
        login = self._login(hvac, key, credentials, deadline)
        replies = self._read_paths(login, deadline)
        # A cached login may have been revoked or outlived its TTL: log in once more.
        if (
            credentials.login_path
            and any(r.status == 403 for r in replies.values())
            and self._request(login.client, "get", LOOKUP_SELF, deadline).status == 403
        ):
            with _logins_lock:
                _logins.pop(key, None)
            login = self._login(hvac, key, credentials, deadline)
            replies = self._read_paths(login, deadline)
        return self._collect(login.client, credentials, replies, deadline)

    def _warn_plaintext(self) -> None:
        addr = self.config.addr
        if addr not in _warned_plaintext and is_plaintext_remote(addr):
            _warned_plaintext.add(addr)
            logger.warning(
                "vault at %s is plain http: tokens and secrets cross the network unencrypted; "
                "use https outside a local development server",
                addr,
            )

    def _login(
        self, hvac: Any, key: tuple[object, ...], credentials: Credentials, deadline: float
    ) -> _Login:
        with _logins_lock:
            login = _logins.get(key)
        now = time.monotonic()
        if login is not None and (login.expires is None or now < login.expires):
            return login
        if login is not None and login.renewable:
            renewed = self._request(login.client, "post", "v1/auth/token/renew-self", deadline)
            if renewed.status == 200:
                return self._remember(key, login.client, renewed.body)
        import requests  # noqa: PLC0415 - hvac's own transport, present whenever hvac is

        session = requests.Session()
        # requests looks up proxy variables and netrc on every request when trust_env is on,
        # which costs more than the read itself against a nearby server; the proxies for
        # this address are looked up once instead (NO_PROXY still applies).
        session.proxies = requests.utils.get_environ_proxies(self.config.addr)
        session.trust_env = False
        client = hvac.Client(
            session=session,
            url=self.config.addr,
            token=credentials.token or "",
            namespace=self.config.namespace,
            verify=self.config.verify,
            cert=self.config.cert,
            timeout=self.config.timeout,
            adapter=hvac.adapters.RawAdapter,
        )
        if credentials.login_path is None:
            login = _Login(client, None, 0.0, False, {})
            with _logins_lock:
                _logins[key] = login
            return login
        reply = self._request(
            client, "post", credentials.login_path, deadline, json=credentials.login_body()
        )
        if reply.status in (400, 401, 403):
            raise self._fail(
                StoreAccessError,
                f"{credentials.label} was refused (invalid or expired credentials)",
            )
        auth = reply.body.get("auth") if reply.status == 200 else None
        if not isinstance(auth, dict) or not auth.get("client_token"):
            raise self._fail(StoreAccessError, f"{credentials.label} failed (HTTP {reply.status})")
        client.token = auth["client_token"]
        return self._remember(key, client, reply.body)

    @staticmethod
    def _remember(key: tuple[object, ...], client: hvac.Client, body: dict[str, Any]) -> _Login:
        auth = body.get("auth") or {}
        lease = float(auth.get("lease_duration") or 0)
        # Renew (or log in again) once 80% of the lease has passed, not at the last moment.
        expires = time.monotonic() + lease * 0.8 if lease else None
        login = _Login(client, expires, lease, bool(auth.get("renewable")), {})
        with _logins_lock:
            _logins[key] = login
        return login

    def _request(
        self,
        client: hvac.Client,
        method: str,
        url: str,
        deadline: float,
        prepared: dict[str, requests.PreparedRequest] | None = None,
        **kwargs: Any,
    ) -> _Reply:
        """One API call with retries on transport errors and busy answers, within the deadline.

        Raises:
            StoreUnavailableError: unreachable, sealed, or no answer before the deadline.
        """
        import requests  # noqa: PLC0415 - hvac's own transport, present whenever hvac is

        cause, attempts = "", 0
        for attempt in range(self.config.retries + 1):
            remaining = deadline - time.monotonic()
            if attempt and remaining > 0:
                time.sleep(min(0.2 * 2 ** (attempt - 1), remaining))
                remaining = deadline - time.monotonic()
            if remaining <= 0:
                cause = f"no answer within the {self.config.deadline:g} s deadline"
                break
            attempts += 1
            try:
                timeout = min(self.config.timeout, remaining)
                if prepared is None:
                    response = client.adapter.request(
                        method, url, raise_exception=False, timeout=timeout, **kwargs
                    )
                else:
                    response = self._send_prepared(client, url, prepared, timeout)
            except requests.exceptions.RequestException as exc:
                cause = _transport_cause(exc, requests)
                if isinstance(exc, requests.exceptions.SSLError):
                    break  # a certificate problem does not go away on retry
                continue
            reply = _Reply(response.status_code, _json_of(response))
            if reply.status == 503 and _mentions(reply.body, "sealed"):
                raise self._fail(StoreUnavailableError, "sealed (unseal it, or fix VAULT_ADDR)")
            if reply.status not in RETRY_STATUSES:
                return reply
            cause = "throttled (HTTP 429)" if reply.status == 429 else f"HTTP {reply.status}"
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        raise self._fail(StoreUnavailableError, f"unreachable ({cause}; {tries})")

    def _send_prepared(
        self,
        client: hvac.Client,
        url: str,
        prepared: dict[str, requests.PreparedRequest],
        timeout: float,
    ) -> requests.Response:
        import requests  # noqa: PLC0415 - hvac's own transport, present whenever hvac is

        request = prepared.get(url)
        if request is None:
            # The same headers hvac's adapter sends.
            headers = {"X-Vault-Request": "true", "X-Vault-Token": client.token}
            if self.config.namespace:
                headers["X-Vault-Namespace"] = self.config.namespace
            request = client.session.prepare_request(
                requests.Request("GET", f"{client.adapter.base_uri}/{url}", headers=headers)
            )
            prepared[url] = request
        return client.session.send(
            request,
            timeout=timeout,
            verify=self.config.verify,
            cert=self.config.cert,
            proxies=client.session.proxies,
            allow_redirects=False,
        )

    def _read_paths(self, login: _Login, deadline: float) -> dict[str, _Reply]:
        paths = self.config.paths

        def read(path: str) -> _Reply:
            return self._request(
                login.client, "get", self.config.url(path), deadline, prepared=login.prepared
            )

        if len(paths) == 1:
            return {paths[0]: read(paths[0])}
        with ThreadPoolExecutor(min(len(paths), MAX_PATH_WORKERS)) as pool:
            return dict(zip(paths, pool.map(read, paths), strict=True))

    def _collect(
        self,
        client: hvac.Client,
        credentials: Credentials,
        replies: dict[str, _Reply],
        deadline: float,
    ) -> SourceResult:
        result = SourceResult()
        mount = self.config.mount
        for path in self.config.paths:  # highest priority first
            reply = replies[path]
            if reply.status == 403:
                raise self._denied(client, credentials, path, deadline)
            if reply.status == 404:
                if _mentions(reply.body, "invalid path for a versioned k/v"):
                    raise self._mismatch(actual=2)
                missing = "no such mount" if _mentions(reply.body, "no handler") else "not found"
                self._missing_paths[path] = missing
                continue
            if reply.status != 200:
                raise self._fail(
                    StoreUnavailableError, f"reading {mount}/{path}: HTTP {reply.status}"
                )
            data, version = _secret_of(reply.body, self.config.kv_version)
            if data is None:
                if self.config.kv_version == 2:
                    raise self._mismatch(actual=1)
                raise self._fail(StoreDataError, f"{mount}/{path} holds no key/value data")
            self._take(path, data, version, result)
        if len(self._missing_paths) == len(self.config.paths) and self.config.kv_version == 2:
            # A KV v2 read of a KV v1 mount looks like a missing path; one look at the mount
            # (only when nothing at all was found) tells the two apart.
            info = self._request(client, "get", f"v1/sys/internal/ui/mounts/{mount}", deadline)
            options = (info.body.get("data") or {}).get("options") or {}
            if info.status == 200 and str(options.get("version", "1")) == "1":
                raise self._mismatch(actual=1)
        return result

    def _take(
        self, path: str, data: dict[str, Any], version: str | None, result: SourceResult
    ) -> None:
        claimed: dict[str, str] = {}
        for key in sorted(data):
            plan = self._by_key.get(normalise(key))
            if plan is None:
                continue
            where = f"{self.config.mount}/{path}#{key}"
            earlier = claimed.get(plan.name)
            if earlier is not None:
                result.problems.append(
                    Problem(
                        plan.variable,
                        f"vault: {earlier} and {where} both hold {plan.variable}; keep one",
                        "source",
                    )
                )
                continue
            claimed[plan.name] = where
            if plan.name in result.found:
                continue  # a higher-priority path already holds it
            text = _text_of(data[key])
            if text is None:
                result.problems.append(
                    Problem(plan.variable, f"vault: {where} holds no text value", "source")
                )
                continue
            result.found[plan.name] = Found(text, where, version)

    def _denied(
        self, client: hvac.Client, credentials: Credentials, path: str, deadline: float
    ) -> SourceError:
        lookup = self._request(client, "get", LOOKUP_SELF, deadline)
        if lookup.status == 403:
            cause = f"permission denied: {credentials.label} is invalid or expired"
        else:
            cause = (
                f"permission denied: the token's policies do not allow reading "
                f"{self.config.url(path).removeprefix('v1/')}"
            )
        return self._fail(StoreAccessError, cause)

    def _mismatch(self, actual: int) -> SourceError:
        return self._fail(
            StoreDataError,
            f"KV version mismatch: {self.config.mount}/ is a KV v{actual} mount but "
            f"NOVA_VAULT_KV_VERSION is {self.config.kv_version}",
        )


def _json_of(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _mentions(body: dict[str, Any], text: str) -> bool:
    notes = [*(body.get("errors") or ()), *(body.get("warnings") or ())]
    return any(text in str(note).lower() for note in notes)


def _secret_of(body: dict[str, Any], kv_version: int) -> tuple[dict[str, Any] | None, str | None]:
    data = body.get("data")
    if not isinstance(data, dict):
        return None, None
    if kv_version == 1:
        return data, None
    inner, metadata = data.get("data"), data.get("metadata")
    if not isinstance(inner, dict) or not isinstance(metadata, dict):
        return None, None
    version = metadata.get("version")
    return inner, None if version is None else str(version)


def _text_of(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def _transport_cause(exc: Exception, requests: Any) -> str:
    # Classified from the exception type and the OS's wording, never shown as they are: the
    # text carries the URL and, with some proxies, request headers.
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed; check VAULT_CACERT"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time"
    if "refused" in str(exc).lower():
        return "connection refused"
    return "connection failed"


__all__ = [
    "DEFAULT_PATHS",
    "Credentials",
    "VaultConfig",
    "VaultSource",
    "find_credentials",
    "forget_logins",
    "is_plaintext_remote",
]
