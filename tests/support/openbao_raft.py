"""A real 3-node OpenBao cluster on loopback (integrated raft storage), for the HA tests.

Each node is a `bao server` child with its own data folder, API and cluster ports on 127.0.0.1,
plain http. The first node is initialised with one key share and unsealed; the others join it
(`retry_join`) and are unsealed with the same key; the cluster is ready once all three are
voters. Tuned to start in a few seconds: `performance_multiplier = 1` and a 1 s autopilot
stabilisation time. Stopped by PID.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.loopback import HOST, free_port, terminate
from tests.support.openbao import BAO_ENV_PREFIXES, ServerStartError, bao_binary, http_json

STARTUP_TIMEOUT = 60.0
SIZE = 3


def _send(port: int, method: str, path: str, token: str | None, body: object) -> tuple[int, Any]:
    """One request with a JSON body to a node, without hvac or any proxy."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Vault-Token"] = token
        connection.request(method, path, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    return response.status, json.loads(raw) if raw else {}


class RaftNode:
    """One node: its ports, folder, log and process."""

    def __init__(self, index: int, workdir: Path, leader_port: int | None) -> None:
        self.index = index
        self.port = free_port()
        self.cluster_port = free_port()
        self.addr = f"http://{HOST}:{self.port}"
        self.data = Path(tempfile.mkdtemp(prefix=f"raft-{index}-", dir=workdir))
        self.log_path = workdir / f"node{index}.log"
        join = (
            f'  retry_join {{\n    leader_api_addr = "http://{HOST}:{leader_port}"\n  }}\n'
            if leader_port is not None
            else ""
        )
        self.config = workdir / f"node{index}.hcl"
        self.config.write_text(
            f'storage "raft" {{\n  path = "{self.data}"\n  node_id = "node{index}"\n'
            f"  performance_multiplier = 1\n{join}}}\n"
            f'listener "tcp" {{\n  address = "{HOST}:{self.port}"\n'
            f'  cluster_address = "{HOST}:{self.cluster_port}"\n  tls_disable = true\n}}\n'
            f'api_addr = "{self.addr}"\n'
            f'cluster_addr = "https://{HOST}:{self.cluster_port}"\n'
            "disable_mlock = true\n",
            encoding="utf-8",
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server process (sealed, uninitialised or joining)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(BAO_ENV_PREFIXES)}
        env["HOME"] = str(self.data)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(bao_binary()), "server", f"-config={self.config}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the node by its PID (as a crash would) and reap it."""
        if self.running:
            os.kill(self.pid, signal.SIGKILL)
            assert self._process is not None
            self._process.wait()

    def stop(self) -> None:
        """Terminate the node by its PID (kill if it ignores SIGTERM) and remove its data."""
        if self._process is not None:
            terminate(self._process)
        shutil.rmtree(self.data, ignore_errors=True)

    def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
        """One GET to this node."""
        return http_json(self.port, "GET", path, token)

    def send(self, method: str, path: str, token: str | None, body: object) -> tuple[int, Any]:
        """One request with a JSON body to this node."""
        return _send(self.port, method, path, token, body)


class RaftCluster:
    """Three OpenBao nodes in one raft cluster, KV v2 at `secret/`, ready when all are voters.

    Attributes:
        nodes: the nodes, the first the initial leader.
        root_token: the cluster's root token.
        addrs: the nodes' addresses, for VAULT_ADDR as a comma list.
        startup_seconds: how long the start took.
    """

    def __init__(self, workdir: Path) -> None:
        """Start, initialise, unseal and join the nodes; mount KV v2 at `secret/`."""
        started = time.monotonic()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        first = RaftNode(0, workdir, None)
        self.nodes = [first] + [RaftNode(i, workdir, first.port) for i in range(1, SIZE)]
        self.addrs = [node.addr for node in self.nodes]
        self.root_token = ""
        deadline = started + STARTUP_TIMEOUT
        try:
            for node in self.nodes:
                node.start()
            key = self._initialise(first, deadline)
            # New voters are promoted after the stabilisation time (10 s by default).
            self._until(deadline, "autopilot configured", lambda: self._autopilot(first))
            for node in self.nodes[1:]:
                self._until(deadline, f"node{node.index} unsealed", lambda n=node: _unseal(n, key))
            self._until(deadline, "all nodes voters", self._all_voters)
            status, _ = first.send(
                "POST",
                "/v1/sys/mounts/secret",
                self.root_token,
                {"type": "kv", "options": {"version": "2"}},
            )
            if status >= 300:
                raise ServerStartError(f"mounting secret/ answered HTTP {status}")
            self._until(deadline, "secret/ writable", lambda: self._kv_ready(first))
        except BaseException as exc:
            tails = "\n".join(f"--- node{n.index}\n{_tail(n.log_path)}" for n in self.nodes)
            self.stop()
            if isinstance(exc, ServerStartError):
                raise ServerStartError(f"{exc}; logs in {workdir}:\n{tails}") from None
            raise
        self.startup_seconds = time.monotonic() - started

    def _initialise(self, node: RaftNode, deadline: float) -> str:
        self._until(deadline, "node0 listening", lambda: _answers(node))
        status, body = node.send(
            "PUT", "/v1/sys/init", None, {"secret_shares": 1, "secret_threshold": 1}
        )
        if status != 200:
            raise ServerStartError(f"sys/init answered HTTP {status}")
        key = str(body["keys_base64"][0])
        self.root_token = str(body["root_token"])
        self._until(deadline, "node0 unsealed", lambda: _unseal(node, key))
        self._until(deadline, "node0 active", lambda: node.get("/v1/sys/health")[0] == 200)
        return key

    @staticmethod
    def _until(deadline: float, what: str, ready: Any) -> None:
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise ServerStartError(f"OpenBao raft cluster: not {what} within {STARTUP_TIMEOUT:.0f} s")

    def _autopilot(self, node: RaftNode) -> bool:
        status, _ = node.send(
            "POST",
            "/v1/sys/storage/raft/autopilot/configuration",
            self.root_token,
            {"server_stabilization_time": "1s", "cleanup_dead_servers": False},
        )
        return status < 300

    def _all_voters(self) -> bool:
        status, body = self.leader().get("/v1/sys/storage/raft/configuration", self.root_token)
        servers = (body.get("data") or {}).get("config", {}).get("servers", [])
        return status == 200 and len(servers) == SIZE and all(s.get("voter") for s in servers)

    def _kv_ready(self, node: RaftNode) -> bool:
        status, _ = node.get("/v1/secret/config", self.root_token)
        return status == 200

    def leader(self) -> RaftNode:
        """The active node, as a running node's `sys/leader` names it.

        Raises:
            LookupError: no running node knows a leader.
        """
        for node in self.nodes:
            if not node.running:
                continue
            try:
                _, body = node.get("/v1/sys/leader")
            except OSError:
                continue
            address = body.get("leader_address")
            for candidate in self.nodes:
                if candidate.addr == address and candidate.running:
                    return candidate
        raise LookupError("no running node knows a leader")

    def write_kv2(self, path: str, data: Mapping[str, object]) -> int:
        """Write a new version of a KV v2 secret at `secret/<path>` on the leader (as root)."""
        status, body = self.leader().send(
            "POST", f"/v1/secret/data/{path}", self.root_token, {"data": dict(data)}
        )
        if status != 200:
            raise RuntimeError(f"writing secret/{path} answered HTTP {status}")
        return int(body["data"]["version"])

    def wait_for_new_leader(self, old: RaftNode, timeout: float = 30.0) -> float:
        """Seconds until a running node other than `old` is the active node and serves reads."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                leader = self.leader()
                if leader is not old and leader.get("/v1/sys/health")[0] == 200:
                    return time.monotonic() - started
            except (LookupError, OSError):
                pass
            time.sleep(0.02)
        raise TimeoutError(f"no new leader within {timeout:g} s")

    def stop(self) -> None:
        """Stop every node by its PID and remove the data folders."""
        for node in self.nodes:
            node.stop()


def _answers(node: RaftNode) -> bool:
    node.get("/v1/sys/health")
    return True


def _unseal(node: RaftNode, key: str) -> bool:
    status, body = node.send("PUT", "/v1/sys/unseal", None, {"key": key})
    return status == 200 and body.get("sealed") is False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


__all__ = ["RaftCluster", "RaftNode"]
