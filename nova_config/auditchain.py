"""The audit log's format, JSON lines chained by `prev`, and its one writer, `append`.

Shared by the writers (`audit.py`, rotation, reload) and the readers (`audit verify`, `audit
report`), so that both sides hash the same bytes. A line is hashed without its newline; the
first line of a file has `prev: null`. Editing, deleting or reordering a line breaks the chain
at the line after it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterator
from typing import Any

from nova_config.locks import lock_by

# Every event names these; `prev` is added in the file only.
COMMON_KEYS = ("time", "event", "settings", "environment", "host", "pid", "load_id")
EVENTS = (
    "secret_read",
    "source_failed",
    "settings_loaded",
    "settings_failed",
    # Written by later capabilities, in the same form.
    "secret_rotated",
    "settings_reloaded",
    "reload_failed",
    "backup_written",
    "backup_restored",
)
# secret_read's outcomes, and source_failed's causes and outcomes.
READ_OUTCOMES = ("resolved", "missing", "invalid", "default")
FAILURE_CAUSES = ("denied", "unavailable", "bad_data", "config")
FAILURE_OUTCOMES = ("fallback", "fatal")


def chain_hash(line: bytes) -> str:
    """The `prev` of the line after `line`: SHA-256 hex of its bytes, without the newline."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


# One encoder for the process: json.dumps with options builds a new one on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(event: dict[str, Any]) -> str:
    """One event as compact JSON, keys in the order given (the logger's message)."""
    return _ENCODER.encode(event)


def chained(text: str, prev: str | None) -> bytes:
    """The file's line of an encoded event: `prev` added as its last key, newline included."""
    tail = "null" if prev is None else f'"{prev}"'
    return f'{text[:-1]},"prev":{tail}}}\n'.encode()


def dump(event: dict[str, Any]) -> bytes:
    """One event as a JSON line, newline included, keys in the order given."""
    return encode(event).encode() + b"\n"


def lines_of(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The lines of a log with their 1-based numbers, newlines removed.

    An empty line inside the log is yielded (it is no event, and breaks the chain); the empty
    piece after the final newline is not a line. A last line without a newline is yielded: a
    write that was cut short.
    """
    if not data:
        return
    pieces = data.split(b"\n")
    if data.endswith(b"\n"):
        pieces.pop()
    yield from enumerate(pieces, start=1)


# How long a writer waits for another process's lock on the file before the write fails.
LOCK_WAIT = 2.0
# The last line is found by reading back from the end; a line longer than this is not ours.
MAX_LINE = 1024 * 1024


def _last_line(fd: int, size: int) -> tuple[bytes | None, bool]:
    """The file's last line (None when empty), and whether the file ends with a newline."""
    if size == 0:
        return None, True
    chunk = 4096
    while True:
        start = max(0, size - chunk)
        tail = os.pread(fd, size - start, start)
        ended = tail.endswith(b"\n")
        body = tail[:-1] if ended else tail
        cut = body.rfind(b"\n")
        if cut >= 0 or start == 0 or chunk >= MAX_LINE:
            return body[cut + 1 :], ended
        chunk *= 4


def append(path: str, texts: list[str]) -> None:
    """Append encoded events to the audit log, chained to its last line, in one write.

    Raises:
        OSError: the file cannot be opened, locked, read or written (TimeoutError for a lock
            held past `LOCK_WAIT`), or it is not a regular file.
    """
    # O_NONBLOCK: a FIFO named by mistake must not hang the load (it is refused below).
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
    fd = os.open(path, flags, 0o600)
    try:
        if not lock_by(fd, time.monotonic() + LOCK_WAIT):
            raise TimeoutError(errno.ETIMEDOUT, "another writer held the lock too long")
        info = os.fstat(fd)  # under the lock: the size no other writer is changing
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        last, ended = _last_line(fd, info.st_size)
        prev = None if last is None else chain_hash(last)
        chunks = [] if ended else [b"\n"]  # a line cut short stays as it is; ours start fresh
        for text in texts:
            line = chained(text, prev)
            chunks.append(line)
            prev = chain_hash(line)
        data = b"".join(chunks)
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, "the write was cut short")
    finally:
        os.close(fd)  # releases the lock


__all__ = [
    "COMMON_KEYS",
    "EVENTS",
    "FAILURE_CAUSES",
    "FAILURE_OUTCOMES",
    "READ_OUTCOMES",
    "append",
    "chain_hash",
    "chained",
    "dump",
    "encode",
    "lines_of",
]
