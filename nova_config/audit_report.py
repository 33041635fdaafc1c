"""Reading audit logs: `verify` follows the `prev` chain, `report` sums events and flags some."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from nova_config.audit_verify import Chain, read_log
from nova_config.auditchain import lines_of
from nova_config.validators import STRICT_ENVIRONMENTS

DEFAULT_BURST = 60
STORES = frozenset({"vault", "aws"})
LOCAL = frozenset({"env", "dotenv", "files", "init"})
LOADS = frozenset({"settings_loaded", "settings_failed"})
_LONGEST_NAME = 120
_WINDOW_MS = 60_000


class Finding(NamedTuple):
    """Something in a log worth a look: its kind, file, lines, and an explanation without values."""

    kind: str
    file: str
    lines: list[int]
    detail: str


class Report(NamedTuple):
    """The totals of some logs and their findings, in file and line order."""

    totals: dict[str, Any]
    findings: list[Finding]


def time_text(moment: datetime) -> str:
    """A moment in the log's format (`2026-11-29T16:50:01.123Z`): such strings compare as times."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _name(value: Any) -> str:
    """A name read from a log, safe to print: a tampered line may hold escapes or anything."""
    if not isinstance(value, str):
        return "?"
    if value.isprintable() and len(value) <= _LONGEST_NAME:
        return value
    return ascii(value[:_LONGEST_NAME])


def _millis(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _windows(millis: Sequence[int], limit: int) -> Iterator[tuple[int, int, int]]:
    """Runs of sorted times where some minute holds more than `limit`: (first, last, peak)."""
    start = 0
    run: list[int] | None = None
    for end, moment in enumerate(millis):
        while moment - millis[start] >= _WINDOW_MS:
            start += 1
        count = end - start + 1
        if count <= limit:
            continue
        if run is not None and start <= run[1]:
            run[1], run[2] = end, max(run[2], count)
        else:
            if run is not None:
                yield run[0], run[1], run[2]
            run = [start, end, count]
    if run is not None:
        yield run[0], run[1], run[2]


class _Tally:
    """The running sums of `report` over its files, and the lines of each finding."""

    def __init__(self, paths: Sequence[str], since: str | None, burst: int) -> None:
        self.paths, self.since, self.burst = paths, since, burst
        self.events: Counter[str] = Counter()
        self.loads: Counter[tuple[str, str, str]] = Counter()
        self.failed_loads: Counter[tuple[str, str, str]] = Counter()
        self.failures: Counter[str] = Counter()
        self.secrets: Counter[str] = Counter()
        self.lines = self.skipped = self.older = 0
        # (kind, file, what) -> the lines, and the detail of the first
        self.groups: dict[tuple[str, int, tuple[str, ...]], tuple[list[int], str]] = {}
        # Sorted by time at the end, as several files interleave.
        self.reads: list[tuple[str, int, int, tuple[str, str, str], str]] = []
        self.load_times: defaultdict[str, list[tuple[str, int, int]]] = defaultdict(list)

    def flag(self, kind: str, where: tuple[int, int], what: tuple[str, ...], detail: str) -> None:
        group = self.groups.get((kind, where[0], what))
        if group is None:
            self.groups[kind, where[0], what] = ([where[1]], detail)
        else:
            group[0].append(where[1])

    def add(self, event: dict[str, Any], where: tuple[int, int]) -> None:
        moment, name = event.get("time"), event.get("event")
        if not isinstance(moment, str) or not isinstance(name, str):
            self.skipped += 1
            return
        if self.since is not None and moment < self.since:
            self.older += 1
            return
        self.events[_name(name)] += 1
        if name == "secret_read":
            self.read(event, moment, where)
        elif name == "source_failed":
            self.failed(event, where)
        elif name in LOADS:
            key = (_name(event.get("settings")), _name(event.get("environment")))
            host = _name(event.get("host"))
            self.loads[(*key, host)] += 1
            self.failed_loads[(*key, host)] += name == "settings_failed"
            self.load_times[host].append((moment, *where))

    def read(self, event: dict[str, Any], moment: str, where: tuple[int, int]) -> None:
        source, settings = _name(event.get("source")), _name(event.get("settings"))
        environment, field = _name(event.get("environment")), _name(event.get("field"))
        if event.get("outcome") == "resolved":
            self.secrets[source] += 1
            if source in STORES or source in LOCAL:
                self.reads.append((moment, *where, (settings, environment, field), source))
        if source == "dotenv" and environment in STRICT_ENVIRONMENTS:
            detail = f"{settings} in {environment} read {field} from a .env file"
            self.flag("fallback_in_strict", where, ("dotenv", settings, environment), detail)

    def failed(self, event: dict[str, Any], where: tuple[int, int]) -> None:
        source, settings = _name(event.get("source")), _name(event.get("settings"))
        environment, cause = _name(event.get("environment")), _name(event.get("cause"))
        self.failures[source] += 1
        if cause == "denied":
            host = _name(event.get("host"))
            detail = f"{source} refused access to {settings} in {environment} on host {host}"
            self.flag("denied", where, (source, settings, environment, host), detail)
        if event.get("outcome") == "fallback" and environment in STRICT_ENVIRONMENTS:
            detail = f"{settings} in {environment} went on without {source} ({cause})"
            self.flag(
                "fallback_in_strict", where, ("failed", source, settings, environment), detail
            )

    def drifts(self) -> None:
        first_store: dict[tuple[str, str, str], tuple[int, int, str]] = {}
        for _, file, line, key, source in sorted(self.reads):
            if source in STORES:
                first_store.setdefault(key, (file, line, source))
            elif key in first_store:
                store_file, store_line, store = first_store[key]
                detail = (
                    f"{key[2]} of {key[0]} in {key[1]} came from {store} "
                    f"({self.paths[store_file]}:{store_line}), later from {source}"
                )
                self.flag("source_drift", (file, line), (*key, source), detail)

    def bursts(self) -> None:
        for host, loads in self.load_times.items():
            timed = sorted((ms, f, n) for t, f, n in loads if (ms := _millis(t)) is not None)
            millis = [ms for ms, _, _ in timed]
            for first, last, peak in _windows(millis, self.burst):
                at = time_text(datetime.fromtimestamp(millis[first] / 1000, UTC))
                detail = f"{peak} loads within a minute on host {host} from {at}, over {self.burst}"
                for _, file, line in timed[first : last + 1]:
                    self.flag("burst", (file, line), (host, at), detail)

    def totals(self) -> dict[str, Any]:
        return {
            "files": len(self.paths),
            "lines": self.lines,
            "skipped": self.skipped,
            "older": self.older,
            "events": dict(sorted(self.events.items())),
            "loads": [
                {"settings": s, "environment": e, "host": h, "loads": n}
                | {"failed": self.failed_loads[s, e, h]}
                for (s, e, h), n in sorted(self.loads.items())
            ],
            "failures": dict(sorted(self.failures.items())),
            "secrets": dict(sorted(self.secrets.items())),
        }


def report(paths: Sequence[str], *, since: str | None = None, burst: int = DEFAULT_BURST) -> Report:
    """Sum up the events of some logs and find what deserves a look, never showing a value.

    Args:
        paths: the logs, read in turn (drift and bursts are found across them).
        since: only events at or after this time (in the log's format, see `time_text`).
        burst: more loads than this from one host within a minute is a burst.

    Raises:
        UsageError: a file cannot be read (see `read_log`).
    """
    tally = _Tally(paths, since, burst)
    for file, path in enumerate(paths):
        data = read_log(path)
        chain = Chain()
        for number, line in lines_of(data):
            tally.lines += 1
            event = chain.parse(number, line)
            if event is None:
                tally.skipped += 1
            else:
                tally.add(event, (file, number))
        chain.finish(data)
        if chain.broken is not None:
            at, reason = chain.broken
            tally.flag("chain_broken", (file, at), (), f"line {at} {reason}")
    tally.drifts()
    tally.bursts()
    groups = sorted(tally.groups.items(), key=lambda g: (g[0][1], g[1][0][0], g[0][0]))
    findings = [
        Finding(kind, paths[file], lines, text) for (kind, file, _), (lines, text) in groups
    ]
    return Report(tally.totals(), findings)


__all__ = [
    "DEFAULT_BURST",
    "Finding",
    "Report",
    "report",
    "time_text",
]
