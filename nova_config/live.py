"""Live reload: poll the stores' versions, and swap in a new, fully validated instance.

A poll reads versions only (`probes.py`): no secret value unless something changed. Then a whole
load runs, as construction does; only a valid instance replaces the current one, in one
reference swap, so a reader sees the old instance or the new one, never a mix.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import threading
import traceback
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Generic, TypeVar

from nova_config.errors import SettingsError
from nova_config.hidden import HiddenEnviron
from nova_config.probes import PROBED, Prober, Token
from nova_config.reload import audit_event, changed_fields, reload
from nova_config.resolve import environment_of, source_order
from nova_config.settings import SecretSettings
from nova_config.sources import gate_reason

logger = logging.getLogger("nova_config")
_AUDIT = logging.getLogger("nova_config.audit")
# As every load reads it, through a view whose repr hides it (frame locals, error trackers).
_ENVIRON = HiddenEnviron(os.environ)

S = TypeVar("S", bound=SecretSettings)
OnChange = Callable[[S, S, frozenset[str]], object]


class LiveSettings(Generic[S]):
    """The latest valid settings, kept current by one daemon thread (see `watch`)."""

    def __init__(
        self,
        settings_cls: type[S],
        *,
        interval: float,
        jitter: float,
        on_change: OnChange[S] | None,
        reload_signal: signal.Signals | int | None,
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError("interval must be a positive number of seconds")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be at least 0 and below 1")
        if reload_signal is not None and threading.current_thread() is not threading.main_thread():
            raise ValueError(
                "reload_signal can only be installed from the main thread (Python runs signal "
                "handlers there); call watch() from it, or call refresh() from your own handler"
            )
        self.interval, self.jitter = interval, jitter
        self._on_change = on_change
        self.last_error: SettingsError | None = None  # the last reload's, None after a success
        self._lock = threading.RLock()  # one check at a time; on_change may call refresh()
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._random = random.Random()  # noqa: S311 - spreads workers' polls, guards nothing
        prober, baseline = self._planned(settings_cls)
        self._current: S = settings_cls()
        self._prober, self._baseline = self._follow(self._current, prober, baseline)
        self._signal, self._previous = reload_signal, None
        if reload_signal is not None:  # restored by stop(); None: set from C, restored as default
            self._previous = signal.signal(reload_signal, self._on_signal) or signal.SIG_DFL
        self._thread = threading.Thread(
            target=self._run, name=f"nova-config-watch-{settings_cls.__qualname__}", daemon=True
        )
        self._thread.start()

    @property
    def current(self) -> S:
        """The latest valid instance (read it anew each time; never mixes two loads)."""
        return self._current

    @property
    def running(self) -> bool:
        """Whether the watcher's thread is still running."""
        return self._thread.is_alive()

    @staticmethod
    def _planned(model: type[SecretSettings]) -> tuple[Prober | None, dict[str, Token]]:
        # Probed before the first load, from the stores a load would consult: a change made
        # while the load runs is then seen by the first poll instead of being lost.
        try:
            environment = environment_of({}, _ENVIRON, model.__nova_environment_field__)
            order = source_order(_ENVIRON)
            stores = tuple(n for n in order if n in PROBED and gate_reason(n, _ENVIRON) is None)
            prober = Prober(model.__nova_plans__, environment, stores, _ENVIRON)
        except SettingsError:
            return None, {}  # the load itself says what is wrong
        return prober, prober.poll()

    @staticmethod
    def _follow(
        settings: S, prober: Prober | None, baseline: dict[str, Token]
    ) -> tuple[Prober, dict[str, Token]]:
        """The probes of the stores this instance was loaded from (new ones if they changed)."""
        record = settings.resolution
        stores = tuple(s for s in record.sources if s in PROBED)
        if prober is None or set(stores) != set(prober.stores):
            prober = Prober(type(settings).__nova_plans__, record.environment, stores, _ENVIRON)
            baseline = prober.poll()
        return prober, baseline

    def refresh(self, *, force: bool = False) -> bool:
        """Check the stores now, on this thread, and reload when a version changed.

        Args:
            force: reload even when no version changed (KV v1, or a changed environment).

        Returns:
            Whether a new instance replaced `current`. A failed reload keeps the old one,
            sets `last_error`, and returns False.
        """
        with self._lock:
            return self._check(force=force) is True

    def _check(self, *, force: bool = False) -> bool | None:
        """True: swapped; False: nothing changed; None: the reload failed."""
        # A probe that cannot tell (None) keeps what was known: a store that is down is no change.
        observed = {
            p: t if t is not None else self._baseline.get(p) for p, t in self._prober.poll().items()
        }
        if observed == self._baseline and not force:
            return False
        old = self._current
        record = old.resolution
        try:
            new = reload(old)
        except SettingsError as exc:
            self.last_error = exc  # its message and problems never hold a value
            logger.warning("%s: reload failed, the settings before stay: %s", record.settings, exc)
            audit_event(record, {"event": "reload_failed", "problems": len(exc.problems)})
            return None
        changed = changed_fields(old, new)
        self._current = new  # the one reference swap
        self.last_error = None
        self._prober, self._baseline = self._follow(new, self._prober, observed)
        audit_event(record, {"event": "settings_reloaded", "changed": sorted(changed)})
        if changed and self._on_change is not None:
            self._notify(old, new, changed)
        return True

    def _notify(self, old: S, new: S, changed: frozenset[str]) -> None:
        try:
            self._on_change(old, new, changed)  # type: ignore[misc]  # checked by the caller
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{frame.filename}:{frame.lineno}"
            # Not its message, which the application wrote and may quote a value.
            logger.error(
                "on_change raised %s at %s; the watcher goes on", type(exc).__name__, where
            )

    def _delay(self, failures: int) -> float:
        base = self.interval
        if failures:  # a failed reload is tried again sooner, doubling up to the interval
            base = min(base, base / 8 * 2 ** (failures - 1))
        return base * (1 + self.jitter * self._random.uniform(-1.0, 1.0))

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.wait(self._delay(failures))
            self._wake.clear()
            if self._stopping.is_set():
                return
            # Never waits on a refresh() under way on another thread: that one checks now.
            if not self._lock.acquire(blocking=False):
                continue
            try:
                outcome = self._check()
            except Exception as exc:  # whatever it is, the watcher goes on
                logger.error("the watcher's check failed (%s); it goes on", type(exc).__name__)
                outcome = None
            finally:
                self._lock.release()
            failures = failures + 1 if outcome is None else 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only this. Event.set() takes the event's own lock, which the main thread (where
        # handlers run) never holds: stop() puts the previous handler back before it sets it.
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the watcher and wait (up to `timeout` s) for its thread to end; restore the
        signal's previous handler (from the main thread). `current` stays readable."""
        if self._signal is not None and threading.current_thread() is threading.main_thread():
            if signal.getsignal(self._signal) == self._on_signal:
                signal.signal(self._signal, self._previous)
            self._signal = None
        self._stopping.set()
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __enter__(self) -> LiveSettings[S]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LiveSettings({type(self._current).__qualname__}, every {self.interval:g} s)"


def watch(
    settings_cls: type[S],
    *,
    interval: float = 60.0,
    jitter: float = 0.1,
    on_change: OnChange[S] | None = None,
    reload_signal: signal.Signals | int | None = None,
) -> LiveSettings[S]:
    """Load the settings, then keep them current on one daemon thread.

    Args:
        settings_cls: a SecretSettings subclass.
        interval: seconds between polls; each poll reads versions, never values.
        jitter: each wait is `interval * (1 ± jitter)`, at random, to spread many workers.
        on_change: called as `on_change(old, new, changed)` after a swap that changed values;
            `changed` is the frozenset of their field names. What it raises is logged.
        reload_signal: a signal (such as `signal.SIGHUP`) that makes the watcher check now;
            installed from the main thread only.

    Returns:
        The LiveSettings; `.current` is the latest valid instance. Stop it with `.stop()` or
        use it as a context manager.

    Raises:
        SettingsError: the first load failed, as construction does.
        ValueError: a bad interval or jitter, or reload_signal outside the main thread.
    """
    return LiveSettings(
        settings_cls,
        interval=interval,
        jitter=jitter,
        on_change=on_change,
        reload_signal=reload_signal,
    )


__all__ = ["LiveSettings", "watch"]
