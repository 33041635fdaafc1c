"""Time an in-process NovaSettings load from env vars with the audit trail off and on."""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import timeit
from pathlib import Path

# The project's root, for the tests' data (tests.support.data), reused rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nova_config import NovaSettings
from tests.support.data import VALID

TARGET = 1.10  # audit on (file plus logger) adds at most 10% to a load from env vars


def _audit(on: bool, path: str) -> None:
    """Audit on: a log file and the audit logger at INFO (a handler that drops the records,
    so the figure is the cost of making them, not of a handler's output)."""
    audit_logger = logging.getLogger("nova_config.audit")
    if on:
        os.environ["NOVA_AUDIT_LOG"] = path
        audit_logger.setLevel(logging.INFO)
    else:
        os.environ.pop("NOVA_AUDIT_LOG", None)
        audit_logger.setLevel(logging.WARNING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=500, help="loads per timeit batch")
    parser.add_argument("--repeat", type=int, default=5, help="timeit batches per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds, off and on alternating")
    args = parser.parse_args()
    os.environ.update(VALID)
    audit_logger = logging.getLogger("nova_config.audit")
    audit_logger.propagate = False
    audit_logger.addHandler(logging.NullHandler())
    with tempfile.TemporaryDirectory() as folder:
        os.environ["NOVA_SECRETS_DIR"] = folder  # no secret folder of the machine's
        path = os.path.join(folder, "audit.jsonl")
        ratios: list[float] = []
        for _ in range(args.rounds):
            times = {}
            for on in (False, True):
                _audit(on, path)
                batches = timeit.repeat(NovaSettings, number=args.number, repeat=args.repeat)
                times[on] = min(batches) / args.number
            ratios.append(times[True] / times[False])
            print(
                f"off {times[False] * 1e6:7.1f} us   on {times[True] * 1e6:7.1f} us   "
                f"ratio {ratios[-1]:.3f}"
            )
        lines = sum(1 for _ in open(path, "rb"))  # noqa: SIM115 - counted and dropped at once
    median = statistics.median(ratios)
    verdict = "meets" if median <= TARGET else "MISSES"
    print(f"audit on / off, median of {args.rounds} rounds: {median:.3f}  target <= {TARGET}")
    print(f"  {verdict}; {lines} lines written")


if __name__ == "__main__":
    main()
