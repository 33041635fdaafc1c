"""Soak: many loads from Vault (AppRole, two paths) and AWS (two ids); RSS, fds and threads must
not grow.

The servers run outside the measured process: OpenBao is its own process, and moto (which runs
in the process that starts it) stays in this one while the loads run in a child of it, so its
memory and request threads are not counted.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# The project's root: the tests' servers and data are reused from tests.support, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nova_config import NovaSettings
from nova_config.sources import aws, vault_logins
from tests.support.data import VALID_FIELDS
from tests.support.moto import MotoServer, boto_environ
from tests.support.openbao import OpenBao, ServerStartError

LOADS = 10_000
WARM_UP = 200
RSS_NOISE_KIB = 2 * 1024  # RSS may grow this much (allocator noise) and still pass
SHARED = {"alpaca_secret_key": "shared-alpaca-secret-0a1b2c"}
FIELDS = ("alpaca_api_key", "alpaca_secret_key")


def rss_kib() -> int:
    """This process's resident set (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def figures() -> dict[str, int]:
    """RSS (KiB), open file descriptors and live threads, after a full collection."""
    gc.collect()
    time.sleep(0.2)  # let a closing pool's threads finish
    return {
        "rss_kib": rss_kib(),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
    }


def one_load() -> None:
    """One load; both fields must come from the store under test (NOVA_SOURCES names it alone)."""
    settings = NovaSettings()
    for name in FIELDS:
        if getattr(settings, name) is None:
            raise RuntimeError(f"{name} was not loaded")


def worker(loads: int) -> int:
    """In the child: warm up, measure, load `loads` times, measure; print the figures as JSON."""
    for _ in range(WARM_UP):
        one_load()
    before = figures()
    started = time.perf_counter()
    for _ in range(loads):
        one_load()
    elapsed = time.perf_counter() - started
    after = figures()
    vault_logins.forget_logins()
    aws.close_clients()
    print(json.dumps({"before": before, "after": after, "seconds": elapsed, "loads": loads}))
    return 0


def vault_environ(server: OpenBao) -> dict[str, str]:
    """An AppRole login that may read the two paths, which hold the secrets between them."""
    server.write_kv2("soak/development", VALID_FIELDS)
    server.write_kv2("soak", SHARED)
    role_id, secret_id = server.approle(["secret/data/soak", "secret/data/soak/*"])
    return {
        "VAULT_ADDR": server.addr,
        "VAULT_ROLE_ID": role_id,
        "VAULT_SECRET_ID": secret_id,
        "NOVA_VAULT_PATH": "soak/{environment},soak",
        "NOVA_SOURCES": "vault",
    }


def aws_environ(server: MotoServer) -> dict[str, str]:
    """Two secret ids, which hold the secrets between them."""
    admin = server.secrets()
    admin.create_secret(Name="soak/development", SecretString=json.dumps(VALID_FIELDS))
    admin.create_secret(Name="soak/shared", SecretString=json.dumps(SHARED))
    return {
        **boto_environ(server.url),
        "NOVA_AWS_SECRET_ID": "soak/{environment},soak/shared",
        "NOVA_SOURCES": "aws",
    }


def child_env(home: Path, store: dict[str, str]) -> dict[str, str]:
    """This process's environment without any store or project variable, plus `store`'s."""
    kept = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NOVA_", "VAULT_", "BAO_"))
    }
    return {**kept, "HOME": str(home), "NOVA_ON_SOURCE_ERROR": "fail", **store}


def run_worker(name: str, env: dict[str, str], loads: int, home: Path) -> bool:
    """Run the loads in a child process; print its figures and verdict; True if nothing grew."""
    finished = subprocess.run(
        [sys.executable, __file__, "--worker", "--loads", str(loads)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,  # 10,000 loads take minutes; an hour means something hangs
    )
    if finished.returncode != 0:
        print(f"{name}: the loads failed:\n{finished.stderr[-2000:]}", file=sys.stderr)
        return False
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    before: dict[str, int] = result["before"]
    after: dict[str, int] = result["after"]
    grown = {key: after[key] - before[key] for key in before}
    steady = grown["rss_kib"] <= RSS_NOISE_KIB and grown["fds"] <= 0 and grown["threads"] <= 0
    per_load_ms = result["seconds"] / result["loads"] * 1000
    print(f"{name}: {result['loads']} loads after {WARM_UP} to warm up, {per_load_ms:.3f} ms/load")
    rss = f"{before['rss_kib']:>8} KiB -> {after['rss_kib']:>8} KiB ({grown['rss_kib']:+} KiB)"
    print(f"  RSS      {rss}")
    print(f"  fds      {before['fds']:>8}     -> {after['fds']:>8}     ({grown['fds']:+})")
    print(
        f"  threads  {before['threads']:>8}     -> {after['threads']:>8}     ({grown['threads']:+})"
    )
    verdict = "steady" if steady else "GROWS"
    print(f"  verdict  {verdict} (allowed: RSS +{RSS_NOISE_KIB // 1024} MiB, fds +0, threads +0)")
    return steady


def main() -> int:
    """Start OpenBao and moto, then soak each store in a child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=LOADS, help=f"loads per store ({LOADS})")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.loads)
    with tempfile.TemporaryDirectory(prefix="nova-bench-soak-") as folder:
        home = Path(folder) / "home"
        home.mkdir()
        try:
            vault = OpenBao(Path(folder) / "openbao")
        except ServerStartError as exc:
            print(f"the OpenBao dev server did not start: {exc}", file=sys.stderr)
            return 1
        # moto's server logs each request line through werkzeug.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        moto = MotoServer()
        try:
            print(f"nova-config soak: python {sys.version.split()[0]}, {args.loads} loads a store")
            steady = run_worker(
                "vault (AppRole, 2 paths)", child_env(home, vault_environ(vault)), args.loads, home
            )
            steady &= run_worker(
                "aws (2 ids)", child_env(home, aws_environ(moto)), args.loads, home
            )
        finally:
            moto.stop()
            vault.stop()
    return 0 if steady else 1


if __name__ == "__main__":
    sys.exit(main())
