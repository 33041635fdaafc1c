"""Worker threads kept for the process, which never hold it open: the stores' calls run here.

`concurrent.futures.ThreadPoolExecutor` is not used: the interpreter joins its threads at exit,
so one call abandoned at its deadline (a trickling server, a resolver that never answers) kept
a failed process alive long after its error was printed. These threads are daemons: a load
waits for them only as long as its deadline, and the process can always exit at once.

The pool is created on first use, grows one thread at a time up to `MAX_WORKERS` when no thread
is idle, and is dropped in a forked child (its threads do not exist there, and its locks may
have been held at the moment of the fork).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

MAX_WORKERS = 16


class _Pool:
    """Daemon threads taking calls from one queue; calls beyond the idle threads start one more."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._calls: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads = 0
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._calls.put((future, call))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._threads < self._size:
                    self._threads += 1
                    threading.Thread(
                        target=self._work, name=f"nova-worker-{self._threads}", daemon=True
                    ).start()
        return future

    def _work(self) -> None:
        while True:
            future, call = self._calls.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)
            del future, call  # a finished call's result must not outlive it in this frame
            self._idle.release()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def submit(call: Callable[[], T]) -> Future[T]:
    """Run `call` on a worker thread of the process and return its future."""
    global _pool  # noqa: PLW0603 - created on first use, so that import stays cheap
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = _Pool(MAX_WORKERS)
            pool = _pool
    return pool.submit(call)


def _reset_in_child() -> None:
    global _pool, _pool_lock  # noqa: PLW0603 - the parent's threads and locks are not ours
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_reset_in_child)


def finished_within(call: Callable[[], T], seconds: float) -> Future[T] | None:
    """Run `call` on a worker thread; its future once done within `seconds`, else None.

    A call not done by then is abandoned: it goes on unwatched (a write may still land), and
    its result is dropped. The future's `result()` returns the value or raises what `call` did.
    """
    from concurrent.futures import wait  # noqa: PLC0415 - only callers with a deadline need it

    future = submit(call)
    done, _ = wait([future], timeout=seconds)
    if future in done:
        return future
    future.cancel()  # one still queued behind abandoned calls never starts
    return None


__all__ = ["MAX_WORKERS", "finished_within", "submit"]
