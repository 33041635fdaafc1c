"""The failure policy: whether a store that cannot be read stops the load or lets it go on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from nova_config.errors import SourceConfigError

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


__all__ = ["FALLBACK_ENVIRONMENTS", "MODES", "POLICY_VARIABLE", "FailurePolicy"]
