"""`.env` files: `NOVA_ENV_FILE` (default `.env`) with `.env.<environment>` layered on top.

python-dotenv's parser is reused for the syntax people write (`export`, quotes, inline comments);
its `dotenv_values` is not, because it drops a line it cannot parse with only a log warning,
and it interpolates `${...}`, which would change a secret that happens to contain one.
Values are read, never exported into `os.environ`.
"""

from __future__ import annotations

import logging
import os
import re

from dotenv.parser import parse_stream

from nova_config.errors import Problem
from nova_config.fields import FieldPlan
from nova_config.sources.base import Found, LoadContext, Source, SourceResult

logger = logging.getLogger("nova_config")

_NEWLINE = re.compile(r"\r\n|\n|\r")
_TRUE = frozenset({"1", "true", "yes", "on"})


def dotenv_allowed(context: LoadContext) -> bool:
    """Whether `.env` files may be read: always, except in production without NOVA_ALLOW_DOTENV."""
    if context.environment != "production":
        return True
    return context.environ.get("NOVA_ALLOW_DOTENV", "").strip().lower() in _TRUE


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
            with open(path, encoding="utf-8") as handle:
                bindings = list(parse_stream(handle))
        except FileNotFoundError:
            self._absent.add(path)
            if required:
                result.problems.append(
                    Problem(None, f"NOVA_ENV_FILE names {path}, which does not exist", "source")
                )
            return {}
        except UnicodeDecodeError:
            # Never chained or quoted: the decode error carries the bytes around the bad one.
            result.problems.append(Problem(None, f"{path} is not UTF-8 text", "source"))
            return {}
        except OSError as exc:
            result.problems.append(
                Problem(None, f"{path} cannot be read: {exc.strerror}", "source")
            )
            return {}
        values: dict[str, Found] = {}
        for binding in bindings:
            original = binding.original.string
            # The parser numbers a binding from the blank lines before it; count past them.
            leading = original[: len(original) - len(original.lstrip())]
            line = binding.original.line + len(_NEWLINE.findall(leading))
            if binding.error:
                result.problems.append(
                    Problem(
                        None,
                        f"{path}:{line} cannot be parsed (check its quotes and '='); "
                        "the line is not shown because it may hold a secret",
                        "source",
                    )
                )
                continue
            key = binding.key
            if key is None:  # a blank or comment line
                continue
            if key == "NOVA_ENV":
                logger.warning(
                    "%s:%d sets NOVA_ENV, which is ignored: the environment decides which "
                    ".env files are read, so it comes from the process environment only",
                    path,
                    line,
                )
            elif key not in wanted:
                if key.upper() in wanted:
                    self._wrong_case.setdefault(key.upper(), f"{path}:{line}")
            elif binding.value is None:
                result.problems.append(
                    Problem(key, f"{path}:{line} names {key} without '=' and a value", "source")
                )
            else:
                values[key] = Found(binding.value, f"{path}:{line}")
        return values

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
