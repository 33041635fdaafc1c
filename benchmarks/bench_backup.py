"""Backup and restore on a local OpenBao: 1,000 keys over 100 KV v2 paths, X25519 recipient.

Counts the requests through the server's audit device (one read per path; --versions all adds
one metadata read per path and one read per older version; a restore one write per changed
path) and times a backup beside plain hvac reading the same paths (target: at most 1.5x).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pyrage import x25519  # type: ignore[import-untyped]  # no stubs, no py.typed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nova_config.backup_cli import add_backup_parser, run_backup, run_restore
from tests.support.openbao import OpenBao

PATHS, KEYS = 100, 10
TARGET_RATIO = 1.5
WRITES = ("create", "update", "patch")


def run(argv: list[str]) -> None:
    """A command as nova-config runs it, its output kept out of the benchmark's; it must pass."""
    parser = argparse.ArgumentParser(prog="nova-config")
    add_backup_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(io.StringIO()):
        status = run_restore(args) if args.command == "restore" else run_backup(args)
    if status != 0:
        raise SystemExit(f"{argv[0]} failed with exit status {status}")


def seed(server: OpenBao) -> list[str]:
    """100 paths of 10 keys, each written twice (so each has one older version)."""
    paths = [f"bench/p{i:03d}" for i in range(PATHS)]
    for path in paths:
        for round_ in (0, 1):
            server.write_kv2(path, {f"k{k}": f"value-{round_}-{path}-{k}" for k in range(KEYS)})
    return paths


def plain_hvac(server: OpenBao, paths: list[str]) -> float:
    """Seconds to read every path once with a plain hvac client (reused)."""
    client = server.client()
    started = time.perf_counter()
    for path in paths:
        client.secrets.kv.v2.read_secret_version(
            path, mount_point="secret", raise_on_deleted_version=True
        )
    elapsed = time.perf_counter() - started
    client.adapter.close()
    return elapsed


def count(server: OpenBao, mark: int, prefix: str, operations: tuple[str, ...]) -> int:
    return sum(
        entry["request"].get("operation") in operations
        for entry in server.requests_since(mark, prefix)
    )


def main(rounds: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        server = OpenBao(Path(folder) / "bao")
        try:
            return _measure(server, Path(folder), rounds)
        finally:
            server.stop()


def _measure(server: OpenBao, folder: Path, rounds: int) -> int:
    paths = seed(server)
    os.environ.update(
        VAULT_ADDR=server.addr, VAULT_TOKEN=server.root_token, NOVA_VAULT_PATH=",".join(paths)
    )
    identity = x25519.Identity.generate()
    key = folder / "key.txt"
    key.write_text(f"{identity}\n", encoding="utf-8")
    out = str(folder / "backup.age")
    backup = ["backup", "--out", out, "--recipient", str(identity.to_public())]
    mark = server.audit_mark()
    run(backup)
    reads = count(server, mark, "secret/data/bench/", ("read",))
    mark = server.audit_mark()
    run([*backup, "--versions", "all"])
    all_reads = count(server, mark, "secret/data/bench/", ("read",))
    metadata = count(server, mark, "secret/metadata/bench/", ("read",))
    ours, theirs = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        run(backup)
        ours.append(time.perf_counter() - started)
        theirs.append(plain_hvac(server, paths))
    changed = paths[:10]
    for path in changed:
        server.write_kv2(path, {"k0": "destroyed"})
    mark = server.audit_mark()
    started = time.perf_counter()
    run(["restore", out, "--identity", str(key), "--yes"])
    restore_seconds = time.perf_counter() - started
    writes = count(server, mark, "secret/data/bench/", WRITES)
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"{PATHS * KEYS} keys over {PATHS} paths, X25519 recipient, {rounds} rounds (median)")
    print(f"backup reads: {reads} (one per path: {reads == PATHS})")
    print(
        f"--versions all: {all_reads} data reads, {metadata} metadata reads "
        f"(expected {2 * PATHS} and {PATHS})"
    )
    print(
        f"backup {statistics.median(ours) * 1000:.1f} ms, plain hvac reads "
        f"{statistics.median(theirs) * 1000:.1f} ms: ratio {ratio:.2f} (target <= {TARGET_RATIO})"
    )
    print(
        f"restore of {len(changed)} changed paths: {writes} writes, {restore_seconds * 1000:.1f} ms"
    )
    ok = reads == PATHS and all_reads == 2 * PATHS and metadata == PATHS
    ok = ok and writes == len(changed) and ratio <= TARGET_RATIO
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    raise SystemExit(main(parser.parse_args().rounds))
