"""One load of a `SecretSettings` model: its environment, its order, and what it records.

pydantic-settings builds the sources (`settings_customise_sources`, see compose.py), calls each
once and merges what they return (see merge.py). While it does, the `Load` under way keeps the
record: which source gave each field, which stores were skipped or failed, and every problem,
so that a failed load is one `SettingsError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pydantic_settings import (
    PydanticBaseSettingsSource,
)

from nova_config.errors import (
    EnvironmentNameError,
    Problem,
    SettingsError,
    SourceError,
    SourceOrderError,
)
from nova_config.fields import FieldPlan
from nova_config.hidden import HiddenDict
from nova_config.policy import FailurePolicy
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.sources import DEFAULT_ORDER, REGISTRY
from nova_config.sources.base import ENVIRONMENTS

if TYPE_CHECKING:
    pass

logger = logging.getLogger("nova_config")


def environment_of(
    init: Mapping[str, Any], environ: Mapping[str, str], field: str | None = None
) -> str:
    """The environment of this load, from the environment field's argument or NOVA_ENV.

    Args:
        init: the keyword arguments of the load.
        environ: the process environment.
        field: the model's field that holds the environment, if it declares one.

    Raises:
        EnvironmentNameError: the value names no known environment.
    """
    raw = init.get(field) if field else None
    origin = f"the {field} argument"
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


class Load:
    """What one load knows and collects while pydantic-settings runs its sources."""

    def __init__(
        self,
        settings_name: str,
        plans: tuple[FieldPlan, ...],
        environment: str,
        environ: Mapping[str, str],
        *,
        dotenv_disabled: bool = False,
        environment_field: str | None = None,
    ) -> None:
        self.settings_name = settings_name
        self.environment_field = environment_field
        self.plans = plans
        self.environment = environment
        self.environ = environ
        self.policy = FailurePolicy.of(environment, environ)
        self.order = source_order(environ)
        self.dotenv_disabled = dotenv_disabled
        self.problems: list[Problem] = []
        self.skipped: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        # source name -> (cause, outcome) for the audit trail: `denied`, `fallback` and so on.
        self.failures: dict[str, tuple[str, str]] = {}
        self.started = time.perf_counter()
        self.consulted: list[tuple[str, PydanticBaseSettingsSource]] = []
        self.provenance: dict[str, Provenance] = {}
        self.values: dict[str, Any] = HiddenDict()  # the merged input, for redaction

    def __repr__(self) -> str:
        return f"Load({self.settings_name}, {self.environment})"

    def judge(self, name: str, exc: SourceError) -> None:
        """The one place a store's failure is judged in a load, the same way for every store."""
        self.failed[name] = "; ".join(p.message for p in exc.problems)
        self.failures[name] = (exc.cause, "fallback" if self.policy.fallback else "fatal")
        self.problems.extend(self.policy.judge(exc, "going on with the other sources"))

    def merged(self, state: dict[str, Any]) -> None:
        """Take the merged input: defaults' provenance, the environment field, a debug log."""
        for plan in self.plans:
            if plan.name not in self.provenance and not plan.required:
                self.provenance[plan.name] = Provenance("default", "default value")
        field = self.environment_field
        if field is not None and field not in state:
            # The environment of the load, never read from a source (see SecretSettings).
            state[field] = self.environment
        self.values = state
        if logger.isEnabledFor(logging.DEBUG):
            # Places only: pydantic-settings' own PYDANTIC_SETTINGS_DEBUG log shows the values.
            for name, origin in self.provenance.items():
                logger.debug("%s.%s from %s", self.settings_name.rpartition(":")[2], name, origin)

    def sources(self) -> tuple[str, ...]:
        """The sources consulted, highest priority first, keyword arguments left out."""
        return tuple(dict.fromkeys(name for name, _ in self.consulted if name != "init"))

    def record(self) -> ResolutionRecord:
        """The record of this load: environment, sources, provenance, skipped and failed."""
        return ResolutionRecord(
            settings=self.settings_name,
            environment=self.environment,
            sources=self.sources(),
            provenance=dict(self.provenance),
            skipped=dict(self.skipped),
            failed=dict(self.failed),
        )


_AUDIT_LOGGER = logging.getLogger("nova_config.audit")


def audit_wanted(environ: Mapping[str, str]) -> bool:
    """Whether loads are audited: a log file, alerts, or the audit logger enabled for INFO."""
    return (
        "NOVA_AUDIT_LOG" in environ
        or "NOVA_ALERT_WEBHOOK" in environ
        or _AUDIT_LOGGER.isEnabledFor(logging.INFO)
    )


def audit(load: Load, failed: SettingsError | None, model: Any) -> SettingsError | None:
    """Audit a finished load (the audit code is imported only then).

    Returns:
        The error the load raises: its own, else the audit log's when it cannot be written
        and the policy is to fail closed; None when the load succeeds.
    """
    from nova_config.audit import finish  # noqa: PLC0415 - costs nothing until audit is on

    refused = finish(load, failed, None if failed is not None else model)
    return failed if failed is not None else refused


# The load under way in this context: set by SecretSettings.__init__ around pydantic-settings'
# own __init__, read by settings_customise_sources and the stores' sources.
CURRENT: ContextVar[Load | None] = ContextVar("nova_config_load", default=None)


__all__ = ["CURRENT", "Load", "audit", "audit_wanted", "environment_of", "source_order"]
