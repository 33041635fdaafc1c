"""Where a Vault load's time goes: one KV read by each transport, and pydantic-settings' sources.

Against a local OpenBao dev server, side by side in one run (min and median of `--repeat`
blocks of `--number` calls each):

- one read through requests (`transport.via_requests`, what a node behind a proxy uses);
- one read through the kept-alive `http.client` connections (`connections.send`, the default);
- the floor: one read over a bare `http.client` connection, no deadline and no redirect check;
- pydantic-settings' `_settings_init_sources` for NovaSettings (every built-in source made),
  against `compose.own_sources` in the order `NOVA_SOURCES=vault` (only what it consults).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# The project's root: the tests' OpenBao dev server and data are reused from tests.support.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import store_bench  # this folder's module: found in the script's own folder
from nova_config import NovaSettings
from nova_config.compose import own_sources
from nova_config.loading import ENVIRON
from nova_config.resolve import CURRENT, Load
from nova_config.sources.connections import Connections
from nova_config.sources.transport import Answer, deadline_session, follow, origin, via_requests
from tests.support.data import VALID_FIELDS
from tests.support.openbao import OpenBao

PATH = "nova-aetus/development"


def timed(call: Callable[[], object], number: int, repeat: int) -> tuple[float, float]:
    """Min and median microseconds per call over `repeat` blocks of `number` calls."""
    blocks = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            call()
        blocks.append((time.perf_counter() - start) / number * 1e6)
    return min(blocks), statistics.median(blocks)


def cases(server: OpenBao) -> dict[str, Callable[[], object]]:
    """Each way of reading the path once, and each way of making the sources once."""
    url = f"{server.addr}/v1/secret/data/{PATH}"
    headers = {"X-Vault-Token": server.root_token, "X-Vault-Request": "true"}
    allowed = origin(server.addr)
    session = deadline_session()
    through_requests = via_requests(session, "GET", headers, None, timeout=5.0, verify=True)
    pool = Connections()

    def direct(target: str) -> Answer:
        return pool.send("GET", target, headers, None, timeout=5.0, verify=True, cert=None)

    bare = http.client.HTTPConnection(server.addr.removeprefix("http://"), timeout=5.0)

    def floor() -> bytes:
        bare.request("GET", f"/v1/secret/data/{PATH}", headers=headers)
        return bare.getresponse().read()

    def upstream_sources() -> object:
        return NovaSettings._settings_init_sources()

    def nova_sources() -> object:
        load = Load("bench:NovaSettings", NovaSettings.__nova_plans__, "development", ENVIRON)
        token = CURRENT.set(load)
        try:
            return own_sources(NovaSettings, load, {})
        finally:
            CURRENT.reset(token)

    return {
        "read through requests": lambda: follow(through_requests, url, allowed, deadline()),
        "read through http.client (kept-alive)": lambda: follow(direct, url, allowed, deadline()),
        "floor: bare http.client read": floor,
        "pydantic-settings' _settings_init_sources": upstream_sources,
        "own_sources (NOVA_SOURCES=vault)": nova_sources,
    }


def deadline() -> float:
    return time.monotonic() + 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=300, help="calls per block")
    parser.add_argument("--repeat", type=int, default=9, help="blocks per case")
    args = parser.parse_args()
    with store_bench.scratch_home("nova-bench-transport-") as home:
        server = store_bench.start_openbao(home)
        if server is None:
            return 1
        try:
            server.write_kv2(PATH, VALID_FIELDS)
            os.environ.update(NOVA_SOURCES="vault", VAULT_ADDR=server.addr)
            print(f"nova-config transport benchmark: OpenBao dev at {server.addr}")
            requests = importlib.metadata.version("requests")
            print(f"  requests {requests}; {args.repeat} blocks of {args.number}")
            print(f"\n{'case':44} {'min us':>8} {'median us':>10}")
            for name, call in cases(server).items():
                call()  # a connection open, a request prepared
                best, median = timed(call, args.number, args.repeat)
                print(f"{name:44} {best:8.0f} {median:10.0f}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
