"""Measure live reload: what an idle poll costs per store, and how soon a change is seen.

Against the tests' servers (an OpenBao dev server with its file audit device, moto behind the
counting forwarder), a Kubernetes-style secret folder and a `.env`:

- requests per idle poll per Vault path and per AWS secret id, and the secret values read (0);
- the CPU time (time.process_time) of 1,000 idle polls, per store and all together;
- the time from a change in a store to `on_change`, with the watcher's own thread.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

# The project's root: the tests' servers and their data are reused from tests.support.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import store_bench  # this folder's module: found in the script's own folder
from nova_config import LiveSettings, NovaSettings, watch
from nova_config.sources import aws
from store_bench import SECRETS
from tests.support.moto import Forwarder, MotoServer, boto_environ
from tests.support.openbao import OpenBao
from tests.support.watching import dotenv_text, replace_file, write_volume

VAULT_PATHS = ("bench/development", "bench")  # NOVA_VAULT_PATH's two paths
AWS_ID = "bench/aws"
ONLY_AWS = "alpaca_secret_key"  # the AWS secret's field: so that the store is consulted
DOTENV = {name.upper(): value for name, value in SECRETS.items()} | {"TIMESCALE_USER": "bench"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=1000, help="idle polls timed (default 1000)")
    parser.add_argument("--changes", type=int, default=10, help="changes timed per store")
    parser.add_argument("--interval", type=float, default=0.2, help="the watcher's interval, s")
    return parser.parse_args()


def prepare(home: Path, server: OpenBao, forwarder: Forwarder, moto: MotoServer) -> Path:
    """The process pointed at every store; returns the secret folder."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_", "NOVA_", "AWS_")):
            del os.environ[name]
    folder = home / "secrets"
    write_volume(folder, {"unrelated": "x"})
    # The secrets in the .env too (lowest priority): every set of sources timed below loads.
    replace_file(home / ".env", dotenv_text(DOTENV))
    os.environ.update(
        HOME=str(home),
        VAULT_ADDR=server.addr,
        VAULT_TOKEN=server.root_token,
        NOVA_VAULT_PATH="bench/{environment},bench",
        NOVA_AWS_SECRET_ID=AWS_ID,
        NOVA_SECRETS_DIR=str(folder),
        **boto_environ(forwarder.url),
    )
    server.write_kv2(VAULT_PATHS[0], SECRETS)
    server.write_kv2(VAULT_PATHS[1], {"timescale_db": "bench"})
    moto.secrets().create_secret(Name=AWS_ID, SecretString=json.dumps({ONLY_AWS: "aws-1"}))
    return folder


def idle_polls(sources: str, polls: int) -> tuple[float, float, float]:
    """Process CPU, this thread's CPU and wall seconds of `polls` idle checks (refresh() on
    this thread, nothing changed). moto runs in this process: its CPU is in the first only."""
    os.environ["NOVA_SOURCES"] = sources
    with watch(NovaSettings, interval=3600.0) as live:
        live.refresh()  # warm: connections open, requests prepared
        cpu, own, wall = time.process_time(), time.thread_time(), time.perf_counter()
        for _ in range(polls):
            if live.refresh():
                raise RuntimeError("an idle poll reloaded: something changed")
        return time.process_time() - cpu, time.thread_time() - own, time.perf_counter() - wall


def requests_per_poll(server: OpenBao, forwarder: Forwarder, polls: int) -> None:
    """Requests of idle polls, per Vault path and AWS id, and the secret values they read."""
    os.environ["NOVA_SOURCES"] = "env,files,vault,aws,dotenv"
    with watch(NovaSettings, interval=3600.0) as live:
        live.refresh()
        mark, sent = server.audit_mark(), len(forwarder.requests)
        for _ in range(polls):
            live.refresh()
        vault = server.requests_since(mark)
        calls = forwarder.requests[sent:]
    print(f"idle polls: {polls}, all stores (2 Vault paths, 1 AWS id, 1 folder, 2 .env files)")
    for path in VAULT_PATHS:
        reads = [e for e in vault if e["request"]["path"] == f"secret/metadata/{path}"]
        print(f"  vault {path:<22} {len(reads) / polls:.2f} metadata read per poll")
    data = [e for e in vault if e["request"]["path"].startswith("secret/data/")]
    other = [e for e in vault if not e["request"]["path"].startswith("secret/metadata/")]
    describes = [op for op, _ in calls if op == "DescribeSecret"]
    gets = [op for op, _ in calls if op == "GetSecretValue"]
    print(f"  aws {AWS_ID:<24} {len(describes) / polls:.2f} DescribeSecret per poll")
    print(f"  values read: vault {len(data)} data reads, aws {len(gets)} GetSecretValue")
    print(f"  other requests: vault {len(other)}, aws {len(calls) - len(describes)}")
    print()


def latency(change: Callable[[int], None], count: int, interval: float) -> list[float]:
    """Seconds from each change to on_change, on the watcher's own thread."""
    seen = threading.Event()
    found: list[float] = []
    live: LiveSettings[NovaSettings] = watch(
        NovaSettings, interval=interval, on_change=lambda *_: seen.set()
    )
    try:
        for n in range(1, count + 1):
            # At a random moment of the watcher's cycle, not just after the last poll.
            time.sleep(random.uniform(0, interval))  # noqa: S311 - a benchmark's phase
            seen.clear()
            started = time.perf_counter()
            change(n)
            if not seen.wait(30.0):
                raise RuntimeError("a change was not seen within 30 s")
            found.append(time.perf_counter() - started)
    finally:
        live.stop()
    return found


def store_changes(
    server: OpenBao, moto: MotoServer, folder: Path, dotenv: Path
) -> dict[str, Callable[[int], None]]:
    """One change per store, each giving a field a new value (the n-th)."""
    client = moto.secrets()

    def vault_write(n: int) -> None:
        server.write_kv2(VAULT_PATHS[0], SECRETS | {"timescale_password": f"pw-{n}"})

    def aws_put(n: int) -> None:
        value = json.dumps({ONLY_AWS: f"aws-{n + 1}"})
        client.put_secret_value(SecretId=AWS_ID, SecretString=value)

    def volume_swap(n: int) -> None:
        write_volume(folder, {"alpaca_secret_key": f"k8s-{n}"})

    def dotenv_edit(n: int) -> None:
        replace_file(dotenv, dotenv_text(DOTENV | {"TIMESCALE_USER": f"user-{n}"}))

    return {
        "vault write": vault_write,
        "aws PutSecretValue": aws_put,
        "k8s ..data swap": volume_swap,
        ".env edit": dotenv_edit,
    }


def main() -> int:
    """Start the servers, measure, print the figures."""
    args = parse_args()
    with store_bench.scratch_home("nova-bench-watch-") as home:
        try:
            server = OpenBao(home.parent / "openbao")
        except (OSError, RuntimeError) as exc:  # ServerStartError is a RuntimeError
            print(f"the OpenBao dev server did not start: {exc}", file=sys.stderr)
            return 1
        moto = MotoServer()
        forwarder = Forwarder(moto)
        try:
            folder = prepare(home, server, forwarder, moto)
            print(f"nova-config live-reload benchmark (python {sys.version.split()[0]})")
            print(f"  OpenBao dev {server.addr}; moto {moto.url} behind a counting forwarder\n")
            requests_per_poll(server, forwarder, 100)
            print(f"CPU time of {args.polls} idle polls (refresh() here; moto runs in-process)")
            for label, sources in (
                ("files + .env (stat only)", "env,files,dotenv"),
                ("vault, 2 paths (+ .env)", "vault,dotenv"),
                ("aws, 1 secret id (+ .env)", "aws,dotenv"),
                ("all stores", "env,files,vault,aws,dotenv"),
            ):
                cpu, own, wall = idle_polls(sources, args.polls)
                print(
                    f"  {label:<26} process cpu {cpu:6.3f} s, polling thread cpu {own:6.3f} s "
                    f"({own / args.polls * 1e6:4.0f} us/poll), wall {wall:6.3f} s"
                )
            print()
            os.environ["NOVA_SOURCES"] = "env,files,vault,aws,dotenv"
            changes = store_changes(server, moto, folder, home / ".env")
            print(f"change seen (on_change), interval {args.interval:g} s, jitter 0.1")
            for label, change in changes.items():
                times = latency(change, args.changes, args.interval)
                print(
                    f"  {label:<20} median {statistics.median(times):.3f} s, "
                    f"max {max(times):.3f} s over {len(times)} changes"
                )
        finally:
            aws.close_clients()
            forwarder.stop()
            moto.stop()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
