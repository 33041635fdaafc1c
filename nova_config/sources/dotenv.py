"""`.env` files: `NOVA_ENV_FILE` (default `.env`) with `.env.<environment>` layered on top.

python-dotenv's parser is reused for the syntax people write (`export`, quotes, inline comments);
its `dotenv_values` is not, because it drops a line it cannot parse with only a log warning,
and it interpolates `${...}`, which would change a secret that happens to contain one.
Values are read, never exported into `os.environ`.
"""

from __future__ import annotations

import io
import logging
import os
import re

from dotenv.parser import parse_stream

from nova_config.errors import FileReadError, Problem
from nova_config.fields import FieldPlan
from nova_config.hidden import HiddenList
from nova_config.sources.base import Found, LoadContext, Source, SourceResult
from nova_config.sources.common import flag
from nova_config.sources.fileread import read_text

logger = logging.getLogger("nova_config")

_NEWLINE = re.compile(r"\r\n|\n|\r")
# A .env file is a few hundred bytes; a cap keeps a wrong NOVA_ENV_FILE from filling memory.
MAX_DOTENV_BYTES = 1024 * 1024


def dotenv_allowed(context: LoadContext) -> bool:
    """Whether `.env` files may be read: always, except in production without NOVA_ALLOW_DOTENV."""
    if context.environment != "production":
        return True
    return flag(context.environ, "NOVA_ALLOW_DOTENV")


class DotenvSource(Source):
    """Reads the `.env` file and its per-environment layer, prefixed names over plain ones."""

    name = "dotenv"

    def __init__(self, context: LoadContext) -> None:
        super().__init__(context)
        configured = context.environ.get("NOVA_ENV_FILE")
        self.explicit = bool(configured)
        base = os.path.abspath(configured or ".env")
        # Lowest priority first: the per-environment layer overrides the shared file.
        self.files: tuple[str, ...] = (base, f"{base}.{context.environment}")
        self._absent: set[str] = set()
        self._wrong_case: dict[str, str] = {}  # upper-case name -> "path:line" of a lowercase one

    @classmethod
    def skip_reason(cls, context: LoadContext) -> str | None:
        if dotenv_allowed(context):
            return None
        return ".env files are not read in production (NOVA_ALLOW_DOTENV=1 allows it)"

    def load(self) -> SourceResult:
        result = SourceResult()
        wanted = {v for plan in self.context.fields for v in plan.variables(self.context.prefix)}
        merged: dict[str, Found] = {}
        for index, path in enumerate(self.files):
            merged.update(self._read(path, wanted, result, required=index == 0 and self.explicit))
        if self.context.environment == "production" and len(self._absent) < len(self.files):
            logger.warning("reading .env files in production because NOVA_ALLOW_DOTENV is set")
        for plan in self.context.fields:
            for variable in plan.variables(self.context.prefix):
                found = merged.get(variable)
                if found is not None:
                    result.found[plan.name] = found
                    break
        return result

    def _read(
        self, path: str, wanted: set[str], result: SourceResult, *, required: bool
    ) -> dict[str, Found]:
        try:
            text = read_text(path, MAX_DOTENV_BYTES)
        except FileReadError as exc:
            message = str(exc)
            if not os.path.exists(path):
                self._absent.add(path)
                if not required:
                    return {}
                message = f"NOVA_ENV_FILE names {path}, which does not exist"
            result.problems.append(Problem(None, message, "source"))
            return {}
        # Kept in a list whose repr hides it: a binding holds the line and its value.
        bindings = HiddenList(parse_stream(io.StringIO(text)))
        del text
        values: dict[str, Found] = {}
        for binding in bindings:
            original = binding.original.string
            # The parser numbers a binding from the blank lines before it; count past them.
            leading = original[: len(original) - len(original.lstrip())]
            where = f"{path}:{binding.original.line + len(_NEWLINE.findall(leading))}"
            if binding.error:
                result.problems.append(
                    Problem(
                        None,
                        f"{where} cannot be parsed (check its quotes and '='); "
                        "the line is not shown because it may hold a secret",
                        "source",
                    )
                )
            elif binding.key is not None:  # not a blank or comment line
                self._take(
                    binding.key, binding.value, where, wanted=wanted, values=values, result=result
                )
        return values

    def _take(
        self,
        key: str,
        value: str | None,
        where: str,
        *,
        wanted: set[str],
        values: dict[str, Found],
        result: SourceResult,
    ) -> None:
        """One `KEY=value` line: a value for a field, a hint, a warning or a problem."""
        if key == "NOVA_ENV":
            logger.warning(
                "%s sets NOVA_ENV, which is ignored: the environment decides which .env files "
                "are read, so it comes from the process environment only",
                where,
            )
        elif key not in wanted:
            if key.upper() in wanted:
                self._wrong_case.setdefault(key.upper(), where)
        elif value is None:
            result.problems.append(
                Problem(key, f"{where} names {key} without '=' and a value", "source")
            )
        else:
            values[key] = Found(value, where)

    def places(self, plan: FieldPlan) -> str:
        names = ", ".join(plan.variables(self.context.prefix))
        files = ", ".join(p + (" (not found)" if p in self._absent else "") for p in self.files)
        hints = [
            f"{where} has {variable.lower()}, but names are upper case"
            for variable in plan.variables(self.context.prefix)
            if (where := self._wrong_case.get(variable))
        ]
        return f"{names} in {files}" + (f" ({'; '.join(hints)})" if hints else "")

    def where(self) -> str:
        return ", ".join(self.files)
