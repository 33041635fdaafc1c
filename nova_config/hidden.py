"""Containers whose repr never shows what they hold: for values read from the stores.

Error trackers (Sentry, `traceback.TracebackException(capture_locals=True)`) record the repr of
every local in every frame of a failed call. A dict or list that carries plaintext secrets
through a load is one of these, so that only its keys or its length can show.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class HiddenStr(str):
    """A credential as text: used as the string it is, its repr never shows it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<hidden>"


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


class HiddenEnviron(Mapping[str, str]):
    """A read-only view of the process environment whose repr hides it: it holds credentials.

    `os.environ`'s own repr prints every variable, and every load passes it down through the
    sources' frames.
    """

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, key: str) -> str:
        return self._environ[key]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: T, /) -> str | T: ...

    def get(self, key: str, default: object = None, /) -> object:
        return self._environ.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._environ

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)

    def __repr__(self) -> str:
        return f"<process environment: {len(self._environ)} variables, values hidden>"


def hidden_object(pairs: dict[str, Any]) -> HiddenDict[str, Any]:
    """A JSON `object_hook`: every object of a decoded document becomes a `HiddenDict`."""
    return HiddenDict(pairs)


__all__ = ["HiddenDict", "HiddenEnviron", "HiddenList", "HiddenStr", "hidden_object"]
