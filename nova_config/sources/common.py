"""Small helpers every store shares, each with one behaviour."""

from __future__ import annotations

import math
from collections.abc import Mapping

from nova_config.errors import SourceConfigError


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


__all__ = ["seconds"]
