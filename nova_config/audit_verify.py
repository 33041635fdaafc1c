"""Reading an audit log as far as its last whole write, and following its `prev` chain."""

from __future__ import annotations

import fcntl
import json
import os
import time
from typing import Any, NamedTuple

from nova_config.auditchain import chain_hash, lines_of
from nova_config.errors import FileReadError, UsageError
from nova_config.locks import lock_by
from nova_config.sources.fileread import read_bytes

# A log is read whole, since every line is hashed as it is; rotate it long before this.
MAX_LOG_BYTES = 1024 * 1024 * 1024
# Writers hold an exclusive flock for one load's write; a reader waits this long for a gap.
LOCK_WAIT = 1.0
# O_NONBLOCK: a FIFO opens at once (and is refused as not a regular file) instead of waiting.
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_NOT_JSON = object()


class ChainBreak(NamedTuple):
    """The first line of a log that breaks its chain, and why (never what the line holds)."""

    line: int
    reason: str


class Verdict(NamedTuple):
    """What `verify` found: the number of lines, and the first break (None when intact)."""

    lines: int
    broken: ChainBreak | None


def read_log(path: str) -> bytes:
    """Read a whole log, as far as its last complete write, without ever blocking on it.

    Raises:
        UsageError: the file is missing, unreadable, not a regular file or too large.
    """
    try:
        return read_bytes(path, MAX_LOG_BYTES, settle=_settled_size)
    except FileReadError as exc:
        raise UsageError(str(exc)) from None


def _settled_size(fd: int) -> int:
    """The size with no write in progress: bytes past it may belong to a half-written load."""
    if not lock_by(fd, time.monotonic() + LOCK_WAIT, shared=True):
        return os.fstat(fd).st_size  # a stuck writer: a cut last line will show it
    try:
        # Held only for the fstat, so that a writer never waits on a long read.
        return os.fstat(fd).st_size
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class Chain:
    """Follows a log's chain line by line; `broken` is the first line that breaks it."""

    def __init__(self) -> None:
        """Start at the first line, whose `prev` must be null."""
        self.broken: ChainBreak | None = None
        self._expected: str | None = None

    def parse(self, number: int, line: bytes) -> dict[str, Any] | None:
        """The line's event, or None when it is no JSON object; checks it against the chain."""
        try:
            value: Any = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: deeply nested brackets
            value = _NOT_JSON
        event = value if type(value) is dict else None
        if self.broken is None:
            reason = _break_reason(number, line, value, event, self._expected)
            if reason is not None:
                self.broken = ChainBreak(number, reason)
            self._expected = chain_hash(line)
        return event

    def finish(self, data: bytes) -> None:
        """Check the end: a last line without its newline is a write that was cut short."""
        if data and not data.endswith(b"\n"):
            last = data.count(b"\n") + 1
            if self.broken is None or self.broken.line == last:
                self.broken = ChainBreak(last, "is cut short: the file does not end with a newline")


def _break_reason(
    number: int, line: bytes, value: Any, event: dict[str, Any] | None, expected: str | None
) -> str | None:
    if value is _NOT_JSON:
        return "is not valid JSON" if line.strip() else "is empty"
    if event is None:
        return "is JSON but not an object"
    if "prev" not in event:
        return "has no prev"
    if number == 1:
        prev_ok, why = event["prev"] is None, "is the first line but its prev is not null"
    else:
        prev_ok = event["prev"] == expected
        why = f"has a prev that does not match line {number - 1}"
    return None if prev_ok else f"{why}: a line before it was edited, deleted or reordered"


def verify(path: str) -> Verdict:
    """Check that every line of a log is a JSON object chained by `prev` to the line before.

    The last line can be edited without a trace in the chain: only a copy kept elsewhere of its
    hash (or of the file) can tell.

    Raises:
        UsageError: the file cannot be read (see `read_log`).
    """
    data = read_log(path)
    chain = Chain()
    count = 0
    for count, line in lines_of(data):
        chain.parse(count, line)
    chain.finish(data)
    return Verdict(count, chain.broken)


__all__ = ["MAX_LOG_BYTES", "Chain", "ChainBreak", "Verdict", "read_log", "verify"]
