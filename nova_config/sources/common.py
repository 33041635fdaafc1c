"""Small helpers every store shares, each with one behaviour.

- `seconds`: a duration variable; `flag`: a yes/no variable;
- `shown_url`: a URL as messages show it;
- `Claims`: the key-to-field rule;
- `ClientCache`: the process's bounded cache of store clients, reset in a forked child.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

from nova_config.errors import Problem, SourceConfigError
from nova_config.fields import FieldPlan, normalise
from nova_config.sources.base import SourceResult


def seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """A duration variable: a finite number of seconds above 0, or `default` when unset.

    Raises:
        SourceConfigError: the variable is not such a number (`nan`, `inf`, 0, negative, text).
    """
    raw = environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise SourceConfigError(f"{name} must be a positive number of seconds")
    return value


_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"", "0", "false", "no", "off"})


def flag(environ: Mapping[str, str], name: str) -> bool:
    """A yes/no variable: `1`, `true`, `yes` or `on` is yes; unset, empty, `0`, `false`, `no`
    or `off` is no (any case, spaces around ignored).

    Raises:
        SourceConfigError: any other value; it is not shown, the variable is named.
    """
    raw = environ.get(name, "").strip().lower()
    if raw in _YES:
        return True
    if raw in _NO:
        return False
    raise SourceConfigError(f"{name} must be 1, true, yes or on (or 0, false, no, off)")


_QUERY_OR_FRAGMENT = re.compile(r"[?#].*", re.DOTALL)


def shown_url(url: str) -> str:
    """A URL as messages show it: scheme, host, port and path, without a user, password,
    query or fragment (any of which may carry a credential).

    Cut as text, not parsed, so that a URL that does not parse is cut as well.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = _QUERY_OR_FRAGMENT.sub("", rest).partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


# Words the problem of a second entry for one field: (earlier entry, this entry, variable).
Clash = Callable[[str, str, str], str]


class Claims:
    """The key-to-field rule every store shares, for the entries of one place (a folder, a path).

    An entry whose name matches a field claims it. A second entry for the same field in the
    same place is a problem (two answers to one question), never a silent pick; a field an
    earlier, higher-priority place already answered is not read again.
    """

    __slots__ = ("_by_key", "_claimed", "_result")

    def __init__(self, by_key: Mapping[str, FieldPlan], result: SourceResult) -> None:
        self._by_key = by_key
        self._result = result
        self._claimed: dict[str, str] = {}

    def claim(self, key: str, where: str, clash: str | Clash) -> FieldPlan | None:
        """The field an entry should be read for, or None: no field, a clash, or already found.

        Args:
            key: the entry's name, matched case-insensitively with `-` and `_` alike.
            where: the entry as messages name it.
            clash: the problem's wording for a second entry, with `{earlier}`, `{where}` and
                `{variable}` filled in; or a function of those three that words it.
        """
        plan = self._by_key.get(normalise(key))
        if plan is None:
            return None
        earlier = self._claimed.get(plan.name)
        if earlier is not None:
            if isinstance(clash, str):
                message = clash.format(earlier=earlier, where=where, variable=plan.variable)
            else:
                message = clash(earlier, where, plan.variable)
            self._result.problems.append(Problem(plan.variable, message, "source"))
            return None
        self._claimed[plan.name] = where
        return None if plan.name in self._result.found else plan


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ClientCache(Generic[K, V]):
    """Store clients kept for the process: bounded, closed when evicted, emptied after fork.

    A client holds pooled connections (and a Vault login its token): made once per key, not per
    load. Past `size` the least recently used goes and is closed. A forked child (a gunicorn or
    celery worker) starts empty with new locks and closes nothing: the sockets are the parent's,
    and through a shared one the answers to two processes' requests would cross.
    """

    def __init__(self, size: int, close: Callable[[V], object]) -> None:
        self.size = size
        self._close = close
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        # One lock per key, under which a client is made (single flight): a single-use
        # credential allows no second login, and every extra login leaves a token behind.
        self._key_locks: dict[K, threading.Lock] = {}
        if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
            os.register_at_fork(after_in_child=self._reset_in_child)

    def _reset_in_child(self) -> None:
        self._items.clear()
        self._key_locks.clear()
        self._lock = threading.Lock()  # the parent's may have been held at the fork

    def get(self, key: K) -> V | None:
        """The client kept for `key`, now the most recently used; None when there is none."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        """Keep `value` for `key` (replacing, not closing, what was kept) and evict past size."""
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = value
            evicted = [self._items.popitem(last=False)[1] for _ in range(len(self) - self.size)]
        for old in evicted:
            self._close(old)
        return value

    def discard(self, key: K, value: V) -> None:
        """Forget `value` if it is still the one kept for `key`, and close it."""
        with self._lock:
            if self._items.get(key) is value:
                del self._items[key]
        self._close(value)

    def clear(self) -> None:
        """Close and forget every client."""
        with self._lock:
            values = list(self._items.values())
            self._items.clear()
        for value in values:
            self._close(value)

    def lock_for(self, key: K) -> threading.Lock:
        """The lock a client for `key` is made under."""
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def items(self) -> list[tuple[K, V]]:
        """The keys and clients kept, least recently used first."""
        with self._lock:
            return list(self._items.items())

    def values(self) -> list[V]:
        """The clients kept, least recently used first."""
        return [value for _, value in self.items()]

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # Keys may be digests of credentials and clients hold tokens: a count only.
        return f"ClientCache({len(self)} of {self.size})"


__all__ = ["Claims", "Clash", "ClientCache", "flag", "seconds", "shown_url"]
