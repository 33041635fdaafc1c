"""Running `nova-config rotate` in process, as the rotation tests do: its result and a terminal."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import NamedTuple


class Result(NamedTuple):
    """What one run of the command gave: its exit status and what it printed."""

    code: int
    out: str
    err: str


class Terminal(io.StringIO):
    """Standard input as a terminal: what `readline` answers (the confirmation) is given."""

    def isatty(self) -> bool:
        return True


# `rotate(*argv, stdin=...)`: the `rotate` fixture of rotation_fixtures.py.
Rotate = Callable[..., Result]

__all__ = ["Result", "Rotate", "Terminal"]
