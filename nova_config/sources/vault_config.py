"""Vault's configuration: the Vault CLI's variables, NOVA_VAULT_*, and the credentials to use."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from nova_config.errors import FileReadError, SourceConfigError, StoreAccessError
from nova_config.hidden import HiddenDict, HiddenStr
from nova_config.sources.common import flag, seconds, shown_url
from nova_config.sources.fileread import read_text

# The Vault CLI's own default when VAULT_ADDR is unset.
DEFAULT_ADDR = "https://127.0.0.1:8200"
DEFAULT_PATHS = "nova-aetus/{environment},nova-aetus"
K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
NO_CREDENTIALS = (
    "no credentials found (set VAULT_TOKEN, log in with the bao or vault CLI to write "
    "~/.vault-token, set VAULT_ROLE_ID and VAULT_SECRET_ID, or set VAULT_K8S_ROLE)"
)


def _retries(environ: Mapping[str, str]) -> int:
    raw = environ.get("NOVA_VAULT_RETRIES")
    if raw is None:
        return 2
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SourceConfigError("NOVA_VAULT_RETRIES must be a whole number of at least 0")
    return value


def _existing(environ: Mapping[str, str], name: str) -> str | None:
    """A variable naming a file or folder, which must exist (requests would raise OSError)."""
    path = environ.get(name)
    if path and not os.path.exists(path):
        raise SourceConfigError(f"{name} names {path}, which does not exist")
    return path or None


class Address(str):
    """VAULT_ADDR as given; its repr (frame locals, the config's repr) leaves out userinfo."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(shown_url(self))


def _is_address(addr: str) -> bool:
    """Whether an address is http(s) with a host and a valid port; parts die with this frame."""
    try:
        parts = urlsplit(addr)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != -1
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number or out of range
        return False


def _addresses(raw: str) -> tuple[Address, ...]:
    """VAULT_ADDR's addresses: one, or a comma list of a cluster's nodes (duplicates dropped).

    Raises:
        SourceConfigError: an entry is not an address; it is not repeated (it may carry a user
            and password), only its position when there are several.
    """
    entries = [Address(entry.strip().rstrip("/")) for entry in raw.split(",")]
    # Not kept in this frame: its locals reach error trackers, and the text may hold a password
    # (each Address's repr leaves it out).
    del raw
    several = len(entries) > 1
    for position, addr in enumerate(entries, 1):
        if not _is_address(addr):
            which = f" (entry {position} of the comma list)" if several else ""
            raise SourceConfigError(
                f"VAULT_ADDR must be an http:// or https:// address with a valid host and "
                f"port{which}"
            )
    return tuple(dict.fromkeys(entries))


class VaultConfig(NamedTuple):
    """Where and how to read Vault, from the Vault CLI's variables and NOVA_VAULT_*."""

    addr: Address
    namespace: str | None
    verify: bool | str
    cert: tuple[str, str] | str | None
    mount: str
    kv_version: int
    paths: tuple[str, ...]
    timeout: float
    deadline: float
    retries: int
    # Every node of the cluster, in order of preference (VAULT_ADDR as a comma list); `addr`
    # is the first. Empty only in a config built by hand: `nodes` then falls back to `addr`.
    addrs: tuple[Address, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], environment: str) -> VaultConfig:
        """Read the configuration of one load.

        Raises:
            SourceConfigError: a variable holds a value the source cannot use.
        """
        addrs = _addresses(environ.get("VAULT_ADDR") or DEFAULT_ADDR)
        skip = flag(environ, "VAULT_SKIP_VERIFY")
        # Then the bundle variables requests itself would honour, as a plain hvac client does.
        verify: bool | str = (
            False
            if skip
            else next(
                (
                    path
                    for name in (
                        "VAULT_CACERT",
                        "VAULT_CAPATH",
                        "REQUESTS_CA_BUNDLE",
                        "CURL_CA_BUNDLE",
                    )
                    if (path := _existing(environ, name))
                ),
                True,
            )
        )
        client_cert = _existing(environ, "VAULT_CLIENT_CERT")
        client_key = _existing(environ, "VAULT_CLIENT_KEY")
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
            addr=addrs[0],
            addrs=addrs,
            namespace=environ.get("VAULT_NAMESPACE") or None,
            verify=verify,
            cert=cert,
            mount=mount,
            kv_version=int(version),
            paths=tuple(paths),
            timeout=seconds(environ, "NOVA_VAULT_TIMEOUT", 3.0),
            deadline=seconds(environ, "NOVA_VAULT_DEADLINE", 10.0),
            retries=_retries(environ),
        )

    @property
    def nodes(self) -> tuple[Address, ...]:
        """Every address of the cluster, in the configured order (one for a single Vault)."""
        return self.addrs or (self.addr,)

    @property
    def shown(self) -> str:
        """The address (or the comma list) as messages show it: without a user or password."""
        return ", ".join(shown_url(addr) for addr in self.nodes)

    def login_key(self, credentials: Credentials) -> tuple[object, ...]:
        """What one cached login is for: this Vault, its namespace and TLS, and the credentials.

        A cluster's nodes share one login (a token is valid on every node), so the key holds
        the whole list; a single address keys as it always did.
        """
        where: object = self.addr if len(self.nodes) == 1 else self.nodes
        return (where, self.namespace, self.verify, self.cert, credentials.fingerprint)

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
        return HiddenDict(self._secret)

    def __repr__(self) -> str:
        return f"Credentials({self.label})"


def find_credentials(environ: Mapping[str, str]) -> Credentials:
    """The first auth method that applies: token, token file, AppRole, then Kubernetes.

    Every credential is held as a `HiddenStr` from the moment it is read, so that no frame's
    locals show it when a later check fails.

    Raises:
        SourceConfigError: a method is half configured (a role id without a secret id), a token
            cannot go into a header, or a credential file exists but cannot be used.
        StoreAccessError: no method applies, or the Kubernetes token file does not exist.
    """
    token = HiddenStr(environ.get("VAULT_TOKEN", "").strip())
    if token:
        _check_token(token, "VAULT_TOKEN")
        return Credentials("the token in VAULT_TOKEN", {"token": token}, None)
    home = environ.get("HOME") or os.path.expanduser("~")
    token_file = os.path.join(home, ".vault-token")
    if os.path.lexists(token_file):
        token = _read_credential(token_file, "the token file")
    if token:
        _check_token(token, token_file)
        return Credentials(f"the token in {token_file}", {"token": token}, None)
    role_id = HiddenStr(environ.get("VAULT_ROLE_ID", ""))
    secret_id = HiddenStr(environ.get("VAULT_SECRET_ID", ""))
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
        if not os.path.lexists(path):
            raise StoreAccessError(
                f"VAULT_K8S_ROLE is set but the service-account token {path} cannot be read "
                "(it does not exist)"
            )
        jwt = _read_credential(path, "the service-account token (VAULT_K8S_TOKEN_PATH)")
        return Credentials(
            f"Kubernetes login as role {role} at auth/{mount}",
            {"role": role, "jwt": jwt},
            f"v1/auth/{mount}/login",
        )
    raise StoreAccessError(NO_CREDENTIALS)


def _read_credential(path: str, what: str) -> HiddenStr:
    """A credential file's text, stripped, through the guards every file read has.

    Raises:
        SourceConfigError: the file exists but cannot be used; the message names it, and no
            exception that could hold its bytes is chained.
    """
    try:
        return HiddenStr(read_text(path).strip())
    except FileReadError as exc:
        message = f"{what}: {exc}"
    raise SourceConfigError(message)


def _check_token(token: HiddenStr, origin: str) -> None:
    """Refuse a token that cannot go into a header: requests' refusal would quote it."""
    if not (token.isascii() and token.isprintable()) or " " in token:
        raise SourceConfigError(
            f"{origin} holds characters a Vault token cannot have (spaces, control characters "
            "or non-ASCII); the token is not shown"
        )


__all__ = [
    "DEFAULT_ADDR",
    "DEFAULT_PATHS",
    "K8S_TOKEN_PATH",
    "Credentials",
    "VaultConfig",
    "find_credentials",
]
