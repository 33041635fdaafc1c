"""Vault HA failover: 1,000 production loads from a 3-node OpenBao raft cluster, the leader
SIGKILLed partway; prints failed loads, the slowest load around the kill, and the election time.

    .venv/bin/python benchmarks/bench_vault_ha.py [--loads 1000] [--kill-at 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nova_config import NovaSettings, SettingsError
from tests.support.data import VAULT_SECRETS
from tests.support.openbao_raft import RaftCluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=1000)
    parser.add_argument("--kill-at", type=int, default=300)
    args = parser.parse_args()
    cluster = RaftCluster(Path(tempfile.mkdtemp(prefix="bench-raft-")))
    try:
        print(f"cluster started in {cluster.startup_seconds:.2f} s")
        cluster.write_kv2("nova-ha", VAULT_SECRETS)
        os.environ.update(
            NOVA_ENV="production",
            VAULT_ADDR=",".join(cluster.addrs),
            VAULT_TOKEN=cluster.root_token,
            NOVA_VAULT_PATH="nova-ha",
        )
        leader = cluster.leader()
        election: list[float] = []
        failures, times = 0, []
        for index in range(args.loads):
            if index == args.kill_at:
                leader.kill()
                watcher = threading.Thread(
                    target=lambda: election.append(cluster.wait_for_new_leader(leader)),
                    daemon=True,
                )
                watcher.start()
            started = time.monotonic()
            try:
                NovaSettings()
            except SettingsError as exc:
                failures += 1
                print("failed:", exc.problems[0].message)
            times.append(time.monotonic() - started)
        watcher.join(timeout=30)
        before = sorted(times[: args.kill_at])
        print(f"loads {args.loads}, failed {failures}")
        print(f"median load before the kill {before[len(before) // 2] * 1000:.2f} ms")
        print(f"slowest load (the one during the election) {max(times):.2f} s")
        print(
            f"election (kill to a new active node serving) {election[0]:.2f} s"
            if election
            else "election not measured"
        )
    finally:
        cluster.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
