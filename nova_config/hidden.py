"""Containers whose repr never shows what they hold: for values read from the stores.

Error trackers (Sentry, `traceback.TracebackException(capture_locals=True)`) record the repr of
every local in every frame of a failed call. A dict or list that carries plaintext secrets
through a load is one of these, so that only its keys or its length can show.
"""

from __future__ import annotations

from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class HiddenDict(dict[K, V]):
    """A dict whose repr shows its keys, never its values."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} hidden values: {', '.join(sorted(map(str, self)))}>"


class HiddenList(list[T]):
    """A list whose repr shows its length, never its items."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} hidden items>"


def hidden_object(pairs: dict[str, Any]) -> HiddenDict[str, Any]:
    """A JSON `object_hook`: every object of a decoded document becomes a `HiddenDict`."""
    return HiddenDict(pairs)


__all__ = ["HiddenDict", "HiddenList", "hidden_object"]
