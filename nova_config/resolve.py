"""The resolution pass: each source once, in order, first found wins per field."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

from nova_config.errors import (
    EnvironmentNameError,
    Problem,
    SourceError,
    SourceOrderError,
)
from nova_config.fields import ENVIRONMENT_FIELD, FieldPlan
from nova_config.hidden import HiddenDict
from nova_config.policy import FailurePolicy
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.sources import DEFAULT_ORDER, REGISTRY, gate_reason, source_class
from nova_config.sources.base import ENVIRONMENTS, LoadContext, Source

logger = logging.getLogger("nova_config")


class Resolution(NamedTuple):
    """The outcome of one pass: values for validation, their provenance, and the problems."""

    values: dict[str, Any]
    record: ResolutionRecord
    problems: list[Problem]

    def __repr__(self) -> str:
        # `values` holds the secrets in plain text; error trackers that capture frame locals
        # call repr() on it, so only the field names show.
        return (
            f"Resolution(fields={sorted(self.values)!r}, record={self.record!r}, "
            f"problems={len(self.problems)})"
        )


def environment_of(init: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The environment of this load, from the `environment` argument or NOVA_ENV.

    Raises:
        EnvironmentNameError: the value names no known environment.
    """
    raw = init.get(ENVIRONMENT_FIELD)
    origin = "the environment argument"
    if raw is None:
        raw, origin = environ.get("NOVA_ENV"), "NOVA_ENV"
    if raw is None:
        return "development"
    name = str(raw).strip().lower()
    if name in ENVIRONMENTS:
        return name
    got = "it is empty" if not name else "got a value that is none of them"
    raise EnvironmentNameError(f"{origin} must be one of {', '.join(ENVIRONMENTS)} ({got})")


def source_order(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The sources to consult, highest priority first: NOVA_SOURCES, or the default order.

    Raises:
        SourceOrderError: NOVA_SOURCES is empty, or names an unknown source or one twice.
    """
    raw = environ.get("NOVA_SOURCES")
    if raw is None:
        return DEFAULT_ORDER
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    known = ", ".join(REGISTRY)
    if not names:
        raise SourceOrderError(f"NOVA_SOURCES names no source; choose from {known}")
    for name in names:
        if name not in REGISTRY:
            raise SourceOrderError(
                f"NOVA_SOURCES names an unknown source {name!r}; choose from {known} "
                "(keyword arguments always come first and defaults last)"
            )
    if len(set(names)) != len(names):
        raise SourceOrderError("NOVA_SOURCES names a source twice")
    return tuple(names)


def resolve(
    settings_name: str,
    plans: tuple[FieldPlan, ...],
    init: dict[str, Any],
    environ: Mapping[str, str],
) -> Resolution:
    """Run every source once and take, per field, the first value found.

    Args:
        settings_name: the settings class, for messages and the record.
        plans: the fields to resolve (the environment field excluded).
        init: keyword arguments given to the settings class; they win over every source.
        environ: the process environment.

    Returns:
        The values to validate, the record of where each came from, and every problem met.

    Raises:
        EnvironmentNameError: NOVA_ENV is not a known environment.
        SourceOrderError: NOVA_SOURCES is invalid.
        SourceConfigError: NOVA_ON_SOURCE_ERROR or a store's own variables are invalid.
    """
    environment = environment_of(init, environ)
    order = source_order(environ)
    policy = FailurePolicy.of(environment, environ)
    context = LoadContext(environment, environ, plans)
    # Holds every secret in plain text until validation: its repr shows only field names.
    values: dict[str, Any] = HiddenDict(init)
    values[ENVIRONMENT_FIELD] = environment
    provenance: dict[str, Provenance] = {
        name: Provenance("init", f"keyword argument {name}") for name in init
    }
    if ENVIRONMENT_FIELD not in init:
        provenance[ENVIRONMENT_FIELD] = (
            Provenance("env", "NOVA_ENV")
            if "NOVA_ENV" in environ
            else Provenance("default", "default value")
        )
    problems: list[Problem] = []
    consulted: list[Source] = []
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    for name in order:
        source = _open(name, context)
        if isinstance(source, str):
            skipped[name] = source
            continue
        consulted.append(source)
        try:
            result = source.load()
        except SourceError as exc:
            _judge(policy, name, exc, problems, failed)
            continue
        problems.extend(result.problems)
        for field_name, found in result.found.items():
            if field_name not in values:
                values[field_name] = found.value
                provenance[field_name] = Provenance(name, found.location, found.version)
    for plan in plans:
        if plan.name in values:
            continue
        if plan.required:
            problems.append(_missing(plan, consulted, skipped, failed))
        else:
            provenance[plan.name] = Provenance("default", "default value")
    if logger.isEnabledFor(logging.DEBUG):
        for field_name, origin in provenance.items():
            logger.debug("%s.%s from %s", settings_name, field_name, origin)
    record = ResolutionRecord(
        settings=settings_name,
        environment=environment,
        sources=tuple(s.name for s in consulted),
        provenance=provenance,
        skipped=skipped,
        failed=failed,
    )
    return Resolution(values, record, problems)


def _open(name: str, context: LoadContext) -> Source | str:
    """The source to read, or why this load skips it (a gated store is not even imported)."""
    reason = gate_reason(name, context.environ)
    if reason is not None:
        return reason
    cls = source_class(name)
    reason = cls.skip_reason(context)
    return reason if reason is not None else cls(context)


def _judge(
    policy: FailurePolicy,
    name: str,
    exc: SourceError,
    problems: list[Problem],
    failed: dict[str, str],
) -> None:
    """The one place a store's failure is judged, the same way for every store."""
    failed[name] = "; ".join(p.message for p in exc.problems)
    if policy.fallback:
        logger.warning("%s; going on with the other sources (%s)", failed[name], policy.reason)
    else:
        problems.extend(
            p._replace(message=f"{p.message} ({policy.reason} is to fail)") for p in exc.problems
        )


def _missing(
    plan: FieldPlan, consulted: list[Source], skipped: dict[str, str], failed: dict[str, str]
) -> Problem:
    tried = [
        f"{failed[source.name]} (not read)" if source.name in failed else source.places(plan)
        for source in consulted
    ]
    tried.extend(skipped.values())
    places = "".join(f"\n  {place}" for place in tried)
    return Problem(
        plan.variable,
        f"{plan.variable} is missing; set it in one of the places looked in:{places}",
        "missing",
    )


__all__ = ["Resolution", "environment_of", "resolve", "source_order"]
