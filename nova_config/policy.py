"""The failure policy: whether a store that cannot be read stops the load or lets it go on."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

from nova_config.errors import Problem, SourceConfigError, SourceError

logger = logging.getLogger("nova_config")

# Where a developer's laptop has no Vault running, `.env` serves; staging and production must
# not quietly boot on whatever a lower-priority source happens to hold.
FALLBACK_ENVIRONMENTS = frozenset({"development", "test"})
POLICY_VARIABLE = "NOVA_ON_SOURCE_ERROR"
MODES = ("fail", "fallback")


class FailurePolicy(NamedTuple):
    """What a load does when a source raises `SourceError`.

    Attributes:
        fallback: True to warn and go on with the other sources, False to fail the load.
        reason: why this policy applies, for the warning and the error.
    """

    fallback: bool
    reason: str

    @classmethod
    def of(cls, environment: str, environ: Mapping[str, str]) -> FailurePolicy:
        """The policy of one load: NOVA_ON_SOURCE_ERROR if set, else the environment's default.

        Raises:
            SourceConfigError: NOVA_ON_SOURCE_ERROR is neither `fail` nor `fallback`.
        """
        raw = environ.get(POLICY_VARIABLE)
        if raw is not None:
            mode = raw.strip().lower()
            if mode not in MODES:
                raise SourceConfigError(f"{POLICY_VARIABLE} must be fail or fallback")
            return cls(mode == "fallback", f"{POLICY_VARIABLE}={mode}")
        if environment in FALLBACK_ENVIRONMENTS:
            return cls(True, f"the default in {environment}")
        return cls(False, f"the default in {environment}")

    def judge(self, exc: SourceError, going_on: str) -> list[Problem]:
        """Apply the policy to a store that could not be read.

        Args:
            exc: the store's failure.
            going_on: how the warning says the load goes on without the store.

        Returns:
            Nothing when the policy is to fall back (a warning is logged instead), else the
            store's problems, each saying that the policy is to fail.
        """
        if self.fallback:
            causes = "; ".join(p.message for p in exc.problems)
            logger.warning("%s; %s (%s)", causes, going_on, self.reason)
            return []
        return [p._replace(message=f"{p.message} ({self.reason} is to fail)") for p in exc.problems]


__all__ = ["FALLBACK_ENVIRONMENTS", "MODES", "POLICY_VARIABLE", "FailurePolicy"]
