"""Environment variables: the bare names, and the per-environment prefixed names over them.

Upstream's `EnvSettingsSource` case-folds all of `os.environ` into a new dict on every load;
this source looks up only the names it needs, which is what lets a load beat it.
"""

from __future__ import annotations

from nova_config.fields import FieldPlan
from nova_config.sources.base import Found, Source, SourceResult


class EnvSource(Source):
    """Reads `STAGING_NAME` (in staging) over `NAME` from the process environment."""

    name = "env"

    def load(self) -> SourceResult:
        environ = self.context.environ
        prefix = self.context.prefix
        result = SourceResult()
        for plan in self.context.fields:
            for variable in plan.variables(prefix):
                value = environ.get(variable)
                if value is not None:
                    result.found[plan.name] = Found(value, variable)
                    break
        return result

    def places(self, plan: FieldPlan) -> str:
        names = plan.variables(self.context.prefix)
        # Only on the failure path: a name in the wrong case is the likeliest cause.
        wrong_case = [k for k in self.context.environ if k.upper() in names and k not in names]
        hint = f" ({', '.join(wrong_case)} is set, but names are upper case)" if wrong_case else ""
        return "environment variables " + ", ".join(names) + hint

    def where(self) -> str:
        return f"process environment, prefix {self.context.prefix!r}"
