"""Secret files: Docker and Kubernetes secret folders, and the `<NAME>_FILE` convention.

Upstream's `SecretsSettingsSource` is not reused: it fails on a dangling symlink that matches
nothing, knows no kebab-case names or aliases, and takes only one folder's matching rules.
"""

from __future__ import annotations

import os

from nova_config.errors import FileReadError, Problem
from nova_config.fields import FieldPlan
from nova_config.sources.base import Found, LoadContext, Source, SourceResult
from nova_config.sources.common import Claims
from nova_config.sources.fileread import MAX_SECRET_BYTES, read_text

DEFAULT_SECRETS_DIR = "/run/secrets"
_CLASH = "{earlier} and {where} both hold {variable}; keep one of them"


def read_secret_file(path: str) -> str:
    """Read one secret file: a regular UTF-8 file of at most 64 KiB, one trailing newline removed.

    Args:
        path: the file to read (symbolic links are followed).

    Returns:
        The secret, without its trailing `\\n` or `\\r\\n`.

    Raises:
        FileReadError: the file is missing, unreadable, not a regular file, too large, would
            block, or is not UTF-8. The message names the file and the cause, never the content.
    """
    text = read_text(path, MAX_SECRET_BYTES)
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


class FileSource(Source):
    """Reads `<NAME>_FILE` paths, then each folder of `NOVA_SECRETS_DIR`, first folder first."""

    name = "files"

    def __init__(self, context: LoadContext) -> None:
        super().__init__(context)
        raw = context.environ.get("NOVA_SECRETS_DIR")
        folders = raw.split(os.pathsep) if raw is not None else [DEFAULT_SECRETS_DIR]
        self.folders: tuple[str, ...] = tuple(f for f in folders if f)
        self._missing_folders: set[str] = set()
        self._by_key = context.plans_by_key()

    def load(self) -> SourceResult:
        result = SourceResult()
        self._load_file_variables(result)
        for folder in self.folders:
            self._load_folder(folder, result)
        return result

    def _load_file_variables(self, result: SourceResult) -> None:
        environ = self.context.environ
        for plan in self.context.fields:
            for variable in plan.variables(self.context.prefix):
                path = environ.get(variable + "_FILE")
                if path is None:
                    continue
                if environ.get(variable) is not None:
                    # As in the official Docker images: two answers to one question is an error.
                    result.problems.append(
                        Problem(
                            plan.variable,
                            f"{variable} and {variable}_FILE are both set; unset one of them",
                            "source",
                        )
                    )
                    continue
                if plan.name in result.found:
                    continue
                try:
                    value = read_secret_file(path)
                except FileReadError as exc:
                    result.problems.append(
                        Problem(plan.variable, f"{variable}_FILE: {exc}", "source")
                    )
                    continue
                result.found[plan.name] = Found(value, f"{path} (from {variable}_FILE)")

    def _load_folder(self, folder: str, result: SourceResult) -> None:
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except FileNotFoundError:
            self._missing_folders.add(folder)
            return
        except NotADirectoryError:
            result.problems.append(
                Problem(None, f"NOVA_SECRETS_DIR entry {folder} is not a folder", "source")
            )
            return
        except OSError as exc:
            result.problems.append(
                Problem(None, f"secret folder {folder} cannot be read: {exc.strerror}", "source")
            )
            return
        claims = Claims(self._by_key, result)
        # Sorted so that a conflict is always reported the same way.
        for entry in sorted(entries, key=lambda e: e.name):
            # Kubernetes keeps its versioned copies in hidden `..data`/`..2024_...` entries.
            if entry.name.startswith("."):
                continue
            path = os.path.join(folder, entry.name)
            # An earlier folder (or a _FILE variable) that already answered wins.
            plan = claims.claim(
                entry.name, path, "{earlier} and {where} both hold {variable}; keep one of them"
            )
            if plan is None:
                continue
            try:
                value = read_secret_file(path)
            except FileReadError as exc:
                result.problems.append(Problem(plan.variable, str(exc), "source"))
                continue
            result.found[plan.name] = Found(value, path)

    def places(self, plan: FieldPlan) -> str:
        file_vars = " or ".join(v + "_FILE" for v in plan.variables(self.context.prefix))
        names = ", ".join(dict.fromkeys(n.lower() for n in (plan.variable, *plan.aliases)))
        if not self.folders:
            return f"{file_vars} (NOVA_SECRETS_DIR names no folder)"
        folders = ", ".join(
            f + (" (missing)" if f in self._missing_folders else "") for f in self.folders
        )
        return f"{file_vars}; files named {names} (any case, - or _) in {folders}"

    def where(self) -> str:
        return "secret folders " + os.pathsep.join(self.folders)
