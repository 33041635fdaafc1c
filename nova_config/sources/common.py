"""Small helpers every store shares, each with one behaviour."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

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


__all__ = ["Claims", "Clash", "seconds"]
