"""What the Vault and AWS benchmarks share: the secrets, the cases, timing, the report."""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from nova_config import NovaSettings
from tests.support.data import VALID_FIELDS
from tests.support.openbao import OpenBao

# The three required secrets by field name: the tests' valid values, seeded in the store.
SECRETS: dict[str, str] = VALID_FIELDS
# The shared path or secret repeats the password (the environment's wins) and adds one of its own.
SHARED: dict[str, str] = {
    "timescale_password": "tsdb-pass-shared-5c4d",
    "alpaca_secret_key": "alpaca-secret-shared-9f8e7d",
}


@dataclass(frozen=True, slots=True)
class Store:
    """What the shared machinery needs to know of one store: its names and its request counter."""

    source: str  # the store's name in NovaSettings.source_of(): "vault", "aws"
    variable: str  # the NOVA_* variable listing the paths or ids a nova-config case reads
    place: str  # what that variable lists, singular: "path", "id"
    unit: str  # what the counter counts, plural: "requests", "calls"
    mark: Callable[[], int]  # a position in the store's record of the requests it answered
    since: Callable[[int], list[str]]  # the operation of each request recorded after a mark
    usual_operation: str | None = None  # any other is noted under the table; None notes none


def values_of(store: Store, loaded: object) -> dict[str, str]:
    """The secrets a load produced, as plain text; a NovaSettings' must all come from `store`."""
    if isinstance(loaded, dict):
        return {str(name): str(value) for name, value in loaded.items()}
    values = {
        name: value.get_secret_value()
        for name in (*SECRETS, *SHARED)
        if isinstance(value := getattr(loaded, name, None), SecretStr)
    }
    if isinstance(loaded, NovaSettings):
        for name in values:
            origin = loaded.source_of(name)
            if origin.source != store.source:
                raise RuntimeError(f"{name} came from {origin.source}, not {store.source}")
    return values


@dataclass(slots=True)
class Case:
    """One way of loading the secrets, what it must return, and what it measured."""

    name: str
    load: Callable[[], object]
    nova_locations: str | None = None  # the store's NOVA_* variable, for the nova-config cases
    expected: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    times_ms: list[float] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)

    @property
    def target(self) -> int | None:
        """One request per distinct path or id, for nova-config; no target for the others."""
        return None if self.nova_locations is None else len(self.nova_locations.split(","))

    @property
    def per_load(self) -> float:
        """Requests the store answered per timed load."""
        return sum(self.operations.values()) / len(self.times_ms)

    def prepare(self, store: Store) -> None:
        """Point NovaSettings at this case's paths or ids (outside the timed loads)."""
        if self.nova_locations is not None:
            os.environ[store.variable] = self.nova_locations

    def check(self, store: Store) -> str | None:
        """Load once: None when the seeded values came back, else why not."""
        self.prepare(store)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeprecationWarning)
                values = values_of(store, self.load())
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pydantic-vault's errors derive from BaseException
            return f"{type(exc).__name__}: {exc}"
        for message in sorted({str(w.message) for w in caught}):
            print(f"  note: {self.name} warns (silenced while timing): {message}")
        return None if values == self.expected else f"loaded other values: {sorted(values)}"

    def measure(self, store: Store, loads: int, warmup: int) -> None:
        """Untimed loads, then `loads` timed ones; the store's counter records their requests."""
        self.prepare(store)
        for _ in range(warmup):
            self.load()
        gc.collect()
        gc.disable()  # as timeit does: a collection would be charged to whichever load ran it
        mark = store.mark()
        try:
            for _ in range(loads):
                start = time.perf_counter()
                self.load()
                self.times_ms.append((time.perf_counter() - start) * 1e3)
        finally:
            gc.enable()
        self.operations.update(store.since(mark))


def run(store: Store, cases: list[Case], runs: int, warmup: int, rounds: int) -> None:
    """Each case in turn, `rounds` times, so that drift over the run is shared by all of them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for index in range(rounds):
            loads = runs // rounds + (index < runs % rounds)
            for case in cases:
                case.measure(store, loads, warmup)


def print_timing(args: argparse.Namespace) -> None:
    """The header's lines on how `run` times the loads."""
    print(
        f"  loads                    {args.runs} per case in {args.rounds} interleaved blocks,"
        f" each after {args.warmup} untimed loads"
    )
    print("  timing                   time.perf_counter per load, gc off during each block")


def print_table(store: Store, cases: list[Case], reference: Case, width: int) -> None:
    """Requests and times per load; case/nova is the case's time over the reference's."""
    per_load = f"{store.unit}/load"
    print(f"{'case':{width}} {per_load} {'median ms':>10} {'best ms':>8}  case/nova")
    ref_median = statistics.median(reference.times_ms)
    ref_best = min(reference.times_ms)
    for case in cases:
        median, best = statistics.median(case.times_ms), min(case.times_ms)
        ratios = f"median {median / ref_median:5.2f}  best {best / ref_best:5.2f}"
        print(
            f"{case.name:{width}} {case.per_load:{len(per_load)}.2f}"
            f" {median:10.3f} {best:8.3f}  {ratios}"
        )
    print(f"(case/nova above 1 means nova one {store.place} is that many times faster)")
    if store.usual_operation is not None:
        for case in cases:
            others = sorted(op for op in case.operations if op != store.usual_operation)
            if others:
                print(f"  note: {case.name} also called {', '.join(others)}")
    print()


def print_summary(
    store: Store, cases: list[Case], reference: Case, width: int, speedup: tuple[str, float]
) -> None:
    """The targets, judged on this run; informative, never fails.

    `speedup` names a case and how many times the reference's median its median should be.
    """
    print("summary: targets")
    for case in cases:
        if case.target is not None:
            verdict = "meets" if case.per_load == case.target else "MISSES"
            print(
                f"  {case.name:{width}} {store.unit}/load {case.per_load:.2f}"
                f"  target = {case.target} (distinct {store.place}s)  {verdict}"
            )
    slow_name, target = speedup
    for slow in (case for case in cases if case.name == slow_name):
        ratio = statistics.median(slow.times_ms) / statistics.median(reference.times_ms)
        verdict = "meets" if ratio >= target else "MISSES"
        print(
            f"  {slow_name} / {reference.name}, median {ratio:.2f}"
            f"  target >= {target:.1f}  {verdict}"
        )


def compare(
    store: Store, cases: list[Case], args: argparse.Namespace, speedup: tuple[str, float]
) -> None:
    """Check every case, time those that load, print the table and the targets.

    The first case is the reference; if it does not load, nothing is timed.
    """
    width = max(len(case.name) for case in cases) + 1
    loaded = []
    for case in cases:
        problem = case.check(store)
        if problem is None:
            loaded.append(case)
        else:
            print(f"skipped {case.name}: {problem}\n")
    if not loaded or loaded[0] is not cases[0]:
        print(f"{cases[0].name} could not load: nothing to compare")
        return
    run(store, loaded, args.runs, args.warmup, args.rounds)
    print_table(store, loaded, loaded[0], width)
    print_summary(store, loaded, loaded[0], width, speedup)


def start_openbao(home: Path) -> OpenBao | None:
    """The tests' OpenBao dev server, in a folder beside `home`; None (said why) if it fails."""
    try:
        return OpenBao(home.parent / "openbao")
    except (OSError, RuntimeError) as exc:  # ServerStartError is a RuntimeError
        print(f"the OpenBao dev server did not start: {exc}", file=sys.stderr)
        return None


@contextmanager
def scratch_home(prefix: str) -> Iterator[Path]:
    """An empty home in a new temporary folder, the working directory while in use.

    No .env or secrets folder of the caller's is near; the folder is removed afterwards.
    """
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        home = Path(folder) / "home"
        home.mkdir()
        os.chdir(home)
        try:
            yield home
        finally:
            os.chdir(previous)


def parse_args(description: str | None) -> argparse.Namespace:
    """The repetition counts, overridable for a quicker or a steadier run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=200, help="timed loads per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed loads before each block")
    parser.add_argument("--rounds", type=int, default=4, help="blocks per case, interleaved")
    return parser.parse_args()
