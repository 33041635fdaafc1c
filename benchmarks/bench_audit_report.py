"""Time `nova-config audit report` (and `verify`) over a generated 100,000-line audit log."""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from nova_config.audit_cli import report_command, verify_command
from nova_config.audit_report import time_text
from nova_config.auditchain import chain_hash, dump

TARGET_SECONDS = 2.0
LINES = 100_000
HOSTS = tuple(f"web-{n}" for n in range(8))
FIELDS = ("discord_webhook_url", "timescale_password", "alpaca_api_key")
SETTINGS = ("nova_config.settings:NovaSettings", "shop.settings:ShopSettings")


def load_events(number: int, start: datetime) -> list[dict[str, Any]]:
    """The events of one load, as the writer makes them: its secrets, maybe a failure, the end."""
    base: dict[str, Any] = {
        # One load every 2 s on each host: no burst, so the report walks every line.
        "time": time_text(start + timedelta(seconds=2 * (number // len(HOSTS)))),
        "event": "",
        "settings": SETTINGS[number % len(SETTINGS)],
        "environment": ("development", "staging", "production")[number % 3],
        "host": HOSTS[number % len(HOSTS)],
        "pid": 1000 + number % 97,
        "load_id": f"{number:016x}",
    }
    events = [
        base
        | {
            "event": "secret_read",
            "field": field,
            "variable": field.upper(),
            "source": "vault",
            "location": f"vault://secret/data/app#{field}",
            "version": "3",
            "outcome": "resolved",
        }
        for field in FIELDS
    ]
    if number % 10 == 0:
        events.append(
            base
            | {
                "event": "source_failed",
                "source": "aws",
                "cause": "unavailable",
                "reason": "aws secrets manager at eu-west-1 timed out",
                "outcome": "fatal",
            }
        )
    events.append(
        base
        | {
            "event": "settings_loaded",
            "sources": ["env", "vault", "aws"],
            "problems": 0,
            "duration_ms": 2.5,
        }
    )
    return events


def log_lines(count: int) -> Iterator[bytes]:
    """`count` lines of loads, chained by `prev` as the writer chains them."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    prev: str | None = None
    written = number = 0
    while True:
        for event in load_events(number, start):
            line = dump(event | {"prev": prev})
            prev = chain_hash(line)
            yield line
            written += 1
            if written == count:
                return
        number += 1


def best_of(runs: int, work: Callable[[], int]) -> tuple[float, int]:
    """The fastest of `runs` timings of `work`, in seconds, and its result."""
    best, status = float("inf"), -1
    for _ in range(runs):
        started = time.perf_counter()
        status = work()
        best = min(best, time.perf_counter() - started)
    return best, status


def main() -> None:
    """Generate the log in a temporary folder, then time the commands over it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="timings per command (best is kept)")
    parser.add_argument("--lines", type=int, default=LINES, help="lines in the generated log")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "audit.jsonl")
        with open(path, "wb") as handle:
            handle.writelines(log_lines(options.lines))
        size = os.path.getsize(path) / 1024 / 1024
        print(f"log: {options.lines} lines, {size:.1f} MiB, valid chain")

        def text() -> int:
            return report_command([path], since=None, burst=60, as_json=False, out=io.StringIO())

        def as_json() -> int:
            return report_command([path], since=None, burst=60, as_json=True, out=io.StringIO())

        def intact() -> int:
            return verify_command([path], out=io.StringIO())

        for name, work in (("audit report", text), ("audit report --json", as_json)):
            seconds, status = best_of(options.runs, work)
            verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
            print(
                f"{name}: {seconds:.3f} s (exit {status}), target < {TARGET_SECONDS} s: {verdict}"
            )
        seconds, status = best_of(options.runs, intact)
        print(f"audit verify: {seconds:.3f} s (exit {status})")


if __name__ == "__main__":
    main()
