"""A nova-config store as a pydantic-settings source: the adapter every store source shares.

`StoreSettingsSource` reads its store once per load and gives pydantic-settings the values by
field. In a SecretSettings load it reports failures and problems to the load; in a plain
`BaseSettings` it applies the failure policy itself and raises. The public per-store classes are
in `settings_source.py`.
"""

from __future__ import annotations

import logging
import os
from collections import ChainMap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from weakref import WeakKeyDictionary

from pydantic_settings import PydanticBaseSettingsSource

from nova_config.errors import Problem, SettingsError, SourceConfigError, SourceError
from nova_config.fields import FieldPlan, plan_field
from nova_config.hidden import HiddenDict, HiddenEnviron, HiddenStr
from nova_config.policy import FailurePolicy
from nova_config.sources import source_class
from nova_config.sources.base import LoadContext, Source, SourceResult

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo
    from pydantic_settings import BaseSettings

    from nova_config.resolve import Load

logger = logging.getLogger("nova_config")
_NOT_JSON = object()
# Weakly keyed: a settings class that goes away is not kept alive by the cache.
_COMPLEX: WeakKeyDictionary[type[Any], tuple[int, dict[str, bool]]] = WeakKeyDictionary()


def environment_from(environ: Mapping[str, str]) -> str:
    """The environment a store source reads for: NOVA_ENV, else development.

    Raises:
        EnvironmentNameError: NOVA_ENV names no known environment.
    """
    from nova_config.resolve import environment_of  # noqa: PLC0415 - resolve imports sources

    return environment_of({}, environ)


class StoreSettingsSource(PydanticBaseSettingsSource):
    """One nova-config store, read once per load, as a pydantic-settings source.

    Subclasses name the store and map their keyword options to its variables.
    """

    store: ClassVar[str]
    # option name -> the variable it stands for; a list or tuple is joined with `separator`.
    options: ClassVar[dict[str, str]] = {}
    separator: ClassVar[str] = ","
    # The option (and what it names) a source added by hand cannot do without, when its variable
    # is unset too. In a SecretSettings load the store's gate has already decided.
    required: ClassVar[tuple[str, str] | None] = None

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        *,
        environment: str | None = None,
        on_error: str | None = None,
        _load: Load | None = None,
        **options: Any,
    ) -> None:
        """Configure the store.

        Args:
            settings_cls: the settings class.
            environment: the environment (default NOVA_ENV, else development).
            on_error: `fail` or `fallback` when the store cannot be read (default
                NOVA_ON_SOURCE_ERROR, else by environment).
            _load: the SecretSettings load this source takes part in (set by SecretSettings):
                failures and problems are then reported to it, not raised.
            **options: the store's own options (see the subclass).

        Raises:
            SourceConfigError: an unknown option, or the store's configuration is invalid.
        """
        super().__init__(settings_cls)
        self.load = _load
        overrides = self._overrides(options, check_required=_load is None)
        if environment is not None:
            overrides["NOVA_ENV"] = environment
        if on_error is not None:
            overrides["NOVA_ON_SOURCE_ERROR"] = on_error
        if _load is not None:
            self.environ: Mapping[str, str] = _load.environ
            self.environment = _load.environment
            self.plans = _load.plans
        else:
            self.environ = HiddenEnviron(ChainMap(overrides, os.environ))
            self.environment = environment_from(self.environ)
            self.plans = plans_of(settings_cls)
        context = LoadContext(self.environment, self.environ, self.plans)
        cls = source_class(self.store)
        self.skipped = cls.skip_reason(context)
        self.source: Source | None = None if self.skipped else cls(context)
        self.result: SourceResult | None = None

    def _overrides(self, options: Mapping[str, Any], *, check_required: bool) -> dict[str, str]:
        """The options as the variables they stand for (lists joined, booleans as 1 or 0).

        Raises:
            SourceConfigError: an unknown option, or the required one missing with its variable.
        """
        if check_required and self.required is not None:
            option, what = self.required
            needed = self.options[option]
            if options.get(option) is None and needed not in os.environ:
                raise SourceConfigError(
                    f"{type(self).__name__} needs {what}: {option}= or {needed}"
                )
        overrides: dict[str, str] = {}
        for name, value in options.items():
            variable = self.options.get(name)
            if variable is None:
                known = ", ".join(sorted(self.options)) or "none"
                raise SourceConfigError(
                    f"{type(self).__name__} has no option {name!r} (its options: {known})"
                )
            if value is None:
                continue
            if isinstance(value, bool):
                text = "1" if value else "0"
            elif isinstance(value, list | tuple):
                text = self.separator.join(map(str, value))
            else:
                text = str(value)
            overrides[variable] = HiddenStr(text)
        return overrides

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Not used: the store is read once for all fields, in `__call__`."""
        del field
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Read the store once and return the values it holds, by field.

        Raises:
            SettingsError: the store failed and the policy is to fail, or what it read has
                problems (a key held twice, a value that is not text or not valid JSON).
        """
        if self.source is None:
            return {}
        failure: SourceError | None = None
        try:
            result = self.source.load()
        except SourceError as exc:
            failure = exc
        title = f"{self.store} could not be read"
        if failure is not None:
            if self.load is not None:
                self.load.judge(self.store, failure)
                return {}
            policy = FailurePolicy.of(self.environment, self.environ)
            failed = policy.judge(failure, "going on without it")
            if failed:
                raise SettingsError(failed, title=title)
            return {}
        self.result = result
        values, problems = self.values_of(result)
        if self.load is not None:
            self.load.problems.extend(problems)  # one error for the whole load, at its end
        elif problems:
            raise SettingsError(problems, title=title)
        return values

    def values_of(self, result: SourceResult) -> tuple[dict[str, Any], list[Problem]]:
        """The values found, keyed as pydantic validates them, complex ones JSON-decoded."""
        values: dict[str, Any] = HiddenDict()
        problems = list(result.problems)
        fields = self.settings_cls.model_fields
        complex_fields = self._complex_fields()
        for plan in self.plans:
            found = result.found.get(plan.name)
            if found is None:
                continue
            field = fields[plan.name]
            value: Any = found.value
            if complex_fields[plan.name]:
                try:
                    value = self.decode_complex_value(plan.name, field, value)
                except ValueError:
                    # Not chained: json's error quotes the document, and this one is a secret.
                    value = _NOT_JSON
                if value is _NOT_JSON:
                    problems.append(
                        Problem(
                            plan.variable,
                            f"{plan.variable} ({self.store}: {found.location}) is not valid JSON "
                            "for its type",
                            "source",
                        )
                    )
                    continue
            values[input_key(plan.name, field)] = value
        return values, problems

    def _complex_fields(self) -> dict[str, bool]:
        """Which fields take JSON (lists, dicts, models), as pydantic-settings judges them.

        Worked out once per class and its fields: the judgement walks each annotation.
        """
        fields = self.settings_cls.model_fields
        cached = _COMPLEX.get(self.settings_cls)
        if cached is not None and cached[0] == id(fields):
            return cached[1]
        judged = {name: self.field_is_complex(field) for name, field in fields.items()}
        _COMPLEX[self.settings_cls] = (id(fields), judged)
        return judged

    def found_for(self, field: str) -> tuple[str, str | None]:
        """Where the last read found a field, and the store's version of it."""
        found = self.result.found.get(field) if self.result is not None else None
        if found is None:
            return self.store, None
        return found.location, found.version

    def places_for(self, plan: FieldPlan) -> str:
        """Where the store looked for a field, for the missing-field message."""
        if self.source is None:
            return self.skipped or f"{self.store} is off"
        return self.source.places(plan)

    def __repr__(self) -> str:
        try:
            where = self.skipped if self.source is None else repr(self.source)
        except AttributeError:  # a constructor that failed: error trackers still call repr()
            where = "not configured"
        return f"{type(self).__name__}({where})"


def input_key(name: str, field: FieldInfo) -> str:
    """The key pydantic validates a field's input by: its alias when it has a plain one."""
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return alias or name


def plans_of(settings_cls: type[Any]) -> tuple[FieldPlan, ...]:
    """The plans of a model's fields (cached on SecretSettings classes, built for others)."""
    plans = getattr(settings_cls, "__nova_plans__", None)
    if plans is None:
        plans = tuple(plan_field(n, f) for n, f in settings_cls.model_fields.items())
    return tuple(plans)


__all__ = ["StoreSettingsSource", "environment_from", "input_key", "plans_of"]
