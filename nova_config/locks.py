"""File locks with a deadline: `flock` tried without blocking until then, never waited on.

A blocking `flock` waits for as long as another process holds the lock, which no deadline
bounds; the audit log, its readers and the alert state all share files between processes.
"""

from __future__ import annotations

import fcntl
import time

POLL = 0.002  # between attempts: a writer holds these locks for one short write


def lock_by(fd: int, deadline: float, *, shared: bool = False) -> bool:
    """Take a `flock` on `fd` (exclusive unless `shared`), trying until `deadline`.

    Args:
        fd: an open file descriptor.
        deadline: the `time.monotonic()` after which no more attempts are made.
        shared: a shared (read) lock instead of an exclusive one.

    Returns:
        Whether the lock was taken; it is released when `fd` is closed (or by LOCK_UN).
    """
    operation = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    while True:
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(POLL, remaining))
        else:
            return True


__all__ = ["lock_by"]
