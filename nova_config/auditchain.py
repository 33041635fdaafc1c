"""The audit log's format: JSON lines chained by `prev`, the SHA-256 of the line before.

Shared by the writer (`audit.py`) and the readers (`audit verify`, `audit report`), so that both
sides hash the same bytes. A line is hashed without its newline; the first line of a file has
`prev: null`. Editing, deleting or reordering a line breaks the chain at the line after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

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


__all__ = [
    "COMMON_KEYS",
    "EVENTS",
    "FAILURE_CAUSES",
    "FAILURE_OUTCOMES",
    "READ_OUTCOMES",
    "chain_hash",
    "chained",
    "dump",
    "encode",
    "lines_of",
]
