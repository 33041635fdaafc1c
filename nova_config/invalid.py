"""pydantic's validation errors as nova-config's problems: inputs replaced, secrets cut out.

pydantic's `ValidationError` keeps every input, even with `hide_input_in_errors`, in its
`errors()` and `json()`. A failed load turns each of its line errors into a problem (for the
message) and a line error of its own (for `SettingsError.errors()`), with the input replaced by
a placeholder and every run of a secret cut out of a message nova-config did not write.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType
from pydantic_settings import BaseSettings

from nova_config.errors import HIDDEN_INPUT, Problem, SettingsError
from nova_config.fields import FieldPlan, is_secret_type
from nova_config.hidden import HiddenList
from nova_config.places import field_keys, missing_problem
from nova_config.resolve import Load
from nova_config.sources.adapter import input_key
from nova_config.validators import OWN_ERROR


def _plans(cls: type[BaseSettings]) -> tuple[FieldPlan, ...]:
    plans: tuple[FieldPlan, ...] = getattr(cls, "__nova_plans__", ())
    return plans


# A run of this many characters of a secret is cut out of a message wherever it appears, in
# any case: a validator may quote the value stripped, lower-cased or in part.
MIN_SECRET_RUN = 6
HIDDEN = "[hidden]"


def _fold(text: str) -> str:
    """Lower case, one character for one (so that positions match the original text)."""
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def _redact(message: str, secrets: list[str]) -> str:
    """Cut every run of 6 or more characters of a secret out of a message, in any case.

    The secret counts as written and as repr() or JSON would quote it. A secret shorter than the
    run is cut only where it appears whole, and only from four characters up, since shorter
    forms would cut ordinary words. Defence in depth: pydantic's own messages never quote
    inputs, but a subclass's validator might.
    """
    folded = _fold(message)
    hidden = [False] * len(message)
    for value in secrets:
        for form in {_fold(f) for f in (value, repr(value)[1:-1], json.dumps(value)[1:-1])}:
            size = MIN_SECRET_RUN if len(form) >= MIN_SECRET_RUN else len(form)
            if size < 4:
                continue
            grams = {form[i : i + size] for i in range(len(form) - size + 1)}
            for start in range(len(folded) - size + 1):
                if folded[start : start + size] in grams:
                    hidden[start : start + size] = [True] * size
    if not any(hidden):
        return message
    parts: list[str] = []
    for index, char in enumerate(message):
        if not hidden[index]:
            parts.append(char)
        elif index == 0 or not hidden[index - 1]:
            parts.append(HIDDEN)
    return "".join(parts)


def key_of(problem: Problem, cls: type[BaseSettings]) -> str:
    """The input key of the field a problem is about (its alias, as pydantic names it)."""
    for plan in _plans(cls):
        if plan.variable == problem.variable:
            return input_key(plan.name, cls.model_fields[plan.name])
    return problem.variable or ""


def own_line_error(problem: Problem, cls: type[BaseSettings]) -> InitErrorDetails:
    """The line error of one of nova-config's problems: `missing`, or `nova_source`."""
    loc = (key_of(problem, cls),) if problem.variable else ()
    if problem.kind == "missing":
        return {"type": "missing", "loc": loc, "input": {}}  # as in _line_error
    custom = PydanticCustomError(f"nova_{problem.kind}", problem.message)
    return {"type": custom, "loc": loc, "input": HIDDEN_INPUT}


def _collect_secrets(annotation: Any, value: object, into: list[str]) -> None:
    """The texts of every secret in a field's input, nested models' secret fields included."""
    if is_secret_type(annotation):
        text = _plain(value)
        if text is not None:
            into.append(text)
        return
    if not isinstance(value, Mapping):
        return
    for model in _models_in(annotation):
        for name, field in model.model_fields.items():
            for key in (name, field.alias, field.validation_alias):
                if isinstance(key, str) and key in value:
                    _collect_secrets(field.annotation, value[key], into)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names (itself, or inside Optional, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _plain(value: object) -> str | None:
    """The text of a secret as a validator could quote it, whatever type carries it."""
    get = getattr(value, "get_secret_value", None)
    if callable(get):
        value = get()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def invalid_problems(
    cls: type[BaseSettings], exc: ValidationError, load: Load
) -> tuple[list[Problem], list[InitErrorDetails]]:
    """nova-config's problems for pydantic's errors, and pydantic's errors without their input.

    A message that is not nova-config's own has every run of a secret cut out of it, in the
    problem and in the line error alike; the input becomes a placeholder.
    """
    plans = {plan.name: plan for plan in _plans(cls)}
    keys = field_keys(cls)
    secrets: HiddenList[str] = HiddenList()
    for key in load.values:
        name = keys.get(key)
        if name in plans:
            _collect_secrets(cls.model_fields[name].annotation, load.values[key], secrets)
    problems: list[Problem] = []
    lines: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False, include_input=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        name = keys.get(key, key)
        plan = plans.get(name)
        own = error["type"] == OWN_ERROR
        message = str(error["msg"]).removeprefix("Value error, ")
        if not own:
            message = _redact(message, secrets)
        lines.append(_line_error(error, message, own))
        if plan is not None and error["type"] == "missing" and len(error["loc"]) == 1:
            continue  # reported with the places the load looked in
        if error["type"] == "extra_forbidden":
            problems.append(Problem(key, f"{key} is not a setting of {cls.__name__}"))
            continue
        variable = plan.variable if plan else name or cls.__name__
        inner = ".".join(str(step) for step in error["loc"][1:])
        shown = f"{variable} ({inner})" if inner and plan else variable
        origin = load.provenance.get(name)
        where = f" ({origin})" if origin else ""
        problems.append(Problem(variable, f"{shown}{where} is invalid: {message}"))
    return problems, lines


# pydantic's own error types: their messages are built from the type and its context, which
# describe the rule broken (a bound, the expected values), never the input.
_PYDANTIC_TYPES = frozenset(typing.get_args(ErrorType))


def _line_error(error: ErrorDetails, message: str, own: bool) -> InitErrorDetails:
    """One of pydantic's line errors again, with its input replaced and its message redacted."""
    kind = error["type"]
    context = error.get("ctx")
    if kind in ("value_error", "assertion_error"):
        # The context is the validator's own message, which may quote the value.
        return {"type": kind, "loc": error["loc"], "input": HIDDEN_INPUT, "ctx": {"error": message}}
    if own or kind not in _PYDANTIC_TYPES:
        custom = PydanticCustomError(kind, message)
        return {"type": custom, "loc": error["loc"], "input": HIDDEN_INPUT}
    # A missing field's input is the mapping around it, every other value included: an empty
    # one stands in for it, as for a model given nothing.
    hidden: object = {} if kind == "missing" else HIDDEN_INPUT
    line: InitErrorDetails = {"type": kind, "loc": error["loc"], "input": hidden}
    if context:
        line["ctx"] = context
    return line


def load_error(
    cls: type[BaseSettings],
    load: Load,
    invalid: list[Problem],
    lines: list[InitErrorDetails],
) -> SettingsError | None:
    """The one error of a load that has problems (None when it has none).

    Adds a `missing` problem for each required field no source gave, then puts the sources'
    problems and pydantic's (`invalid`, `lines`) into one SettingsError.
    """
    for plan in load.plans:
        if plan.required and plan.name not in load.provenance:
            load.problems.append(missing_problem(load, plan, cls))
    problems = load.problems + invalid
    if not problems:
        return None
    # pydantic's own line errors (inputs replaced) where it found the problems, nova's for the
    # sources' problems; missing fields are pydantic's `missing` either way.
    reported = {tuple(line["loc"]) for line in lines}
    own: list[InitErrorDetails] = [
        own_line_error(problem, cls)
        for problem in load.problems
        if problem.kind != "missing" or (key_of(problem, cls),) not in reported
    ]
    return SettingsError(
        problems,
        title=f"{cls.__name__} could not be loaded ({load.environment})",
        resolution=load.record(),
        line_errors=own + lines,
    )


__all__ = [
    "HIDDEN",
    "MIN_SECRET_RUN",
    "invalid_problems",
    "key_of",
    "load_error",
    "own_line_error",
]
