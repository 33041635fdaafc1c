"""`nova-config doctor`: the security checklist of a repository and its stores, item by item.

Each item is a function of a `Context` that returns an `Outcome` (pass, warn or fail, what was
found, and the fix). No item ever puts a value in its outcome: details name files, fields,
variables, environments and places. Values compared across environments are compared by a
keyed fingerprint (HMAC-SHA256 under a random key of the run) and kept in memory only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from nova_config.errors import SettingsError
from nova_config.scan_baseline import DEFAULT_BASELINE

if TYPE_CHECKING:
    from nova_config.settings import SecretSettings

PASS, WARN, FAIL = "pass", "warn", "fail"
STATUSES = (PASS, WARN, FAIL)
STRICT = frozenset({"staging", "production"})
DEFAULT_BACKUP_MAX_AGE = timedelta(days=7)
# The scan baseline doctor honours at the repository root: the one scan itself defaults to.
BASELINE_NAME = DEFAULT_BASELINE
MANIFEST_VARIABLE = "NOVA_BACKUP_MANIFEST"
EXIT_OK, EXIT_FAILED = 0, 1


class Outcome(NamedTuple):
    """What one item found: its status, a detail without any value, and the fix (or None)."""

    status: str  # one of STATUSES
    detail: str
    fix: str | None = None


class Result(NamedTuple):
    """One item of the report: its number and name with its outcome."""

    item: int
    name: str
    status: str
    detail: str
    fix: str | None

    def as_json(self) -> dict[str, Any]:
        """The item as `--json` prints it."""
        return self._asdict()


class Context(NamedTuple):
    """What every item is told: where the repository is, which settings, which environment.

    Attributes:
        cwd: the working folder, where `.env`, `.env.*` and `.env.example` are looked for.
        root: the repository's top folder (the working folder outside a git repository).
        in_git: whether `root` is a git work tree.
        cls: the settings class; `reference` names it (`module:Class`).
        environment: the environment checked (`--env`, else NOVA_ENV, else development).
        environ: the process environment.
        backup_max_age: the oldest a backup may be.
        now: the time ages are counted to.
    """

    cwd: str
    root: str
    in_git: bool
    cls: type[SecretSettings]
    reference: str
    environment: str
    environ: Mapping[str, str]
    backup_max_age: timedelta = DEFAULT_BACKUP_MAX_AGE
    now: datetime | None = None

    @property
    def strict(self) -> bool:
        """Whether the environment is staging or production."""
        return self.environment in STRICT

    def time(self) -> datetime:
        """The time of the run (UTC)."""
        return self.now or datetime.now(UTC)


def strict_status(context: Context, *, production_only: bool = False) -> str:
    """`fail` in the environments where a finding is fatal, `warn` elsewhere."""
    fatal = context.environment == "production" if production_only else context.strict
    return FAIL if fatal else WARN


def worst(statuses: Sequence[str]) -> str:
    """The most serious of some statuses (pass when there are none)."""
    return max(statuses, key=STATUSES.index, default=PASS)


def listed(names: Sequence[str], limit: int = 8) -> str:
    """Names joined with commas, at most `limit` of them and how many more."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


Check = Callable[[Context], Outcome]


def items() -> list[tuple[str, Check]]:
    """The checklist in its order: each item's name and its check."""
    # Imported here: each module imports this one for Context and Outcome.
    from nova_config import doctor_files, doctor_git, doctor_stores  # noqa: PLC0415

    return [
        ("Secrets kept out of git", doctor_git.check_git),
        (".env.example", doctor_files.check_example),
        ("No hardcoded secrets", doctor_git.check_scan),
        ("Rotation", doctor_stores.check_rotation),
        ("Access logs", doctor_stores.check_access_logs),
        ("Separate secrets per environment", doctor_stores.check_separation),
        ("Encrypted backup", doctor_files.check_backup),
        (".env permissions", doctor_files.check_permissions),
    ]


def _run_one(check: Check, context: Context) -> Outcome:
    try:
        return check(context)
    except SettingsError as exc:  # the project's messages never hold a value
        return Outcome(WARN, f"could not be checked: {_first_line(str(exc))}")
    except Exception as exc:
        # Named by type only: an exception's text may quote what it was reading.
        return Outcome(WARN, f"could not be checked ({type(exc).__name__})")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[:3]) if lines else "no detail"


def diagnose(context: Context, only: Sequence[int] | None = None) -> list[Result]:
    """Run the checklist.

    Args:
        context: the repository, settings and environment to check.
        only: item numbers to run (default all).

    Returns:
        One Result per item run, in the checklist's order.
    """
    results = []
    for number, (name, check) in enumerate(items(), start=1):
        if only is not None and number not in only:
            continue
        outcome = _run_one(check, context)
        results.append(Result(number, name, outcome.status, outcome.detail, outcome.fix))
    return results


def exit_status(results: Sequence[Result]) -> int:
    """1 when any item failed, else 0."""
    return EXIT_FAILED if any(r.status == FAIL for r in results) else EXIT_OK


def write_report(results: Sequence[Result], out: TextIO, *, as_json: bool) -> None:
    """Print the results: one line per item (and its fix), or a JSON list."""
    if as_json:
        out.write(json.dumps([r.as_json() for r in results], indent=2) + "\n")
        return
    for r in results:
        out.write(f"[{r.status}] {r.item} {r.name}: {r.detail}\n")
        if r.status != PASS and r.fix:
            out.write(f"       fix: {r.fix}\n")


def context_for(
    cls: type[SecretSettings],
    reference: str,
    environment: str,
    *,
    backup_max_age: timedelta = DEFAULT_BACKUP_MAX_AGE,
    now: datetime | None = None,
) -> Context:
    """The context of a run from the working folder (its git top folder, if any)."""
    from nova_config.doctor_git import toplevel  # noqa: PLC0415 - it imports this module

    cwd = os.getcwd()
    top = toplevel(cwd)
    return Context(
        cwd=cwd,
        root=top or cwd,
        in_git=top is not None,
        cls=cls,
        reference=reference,
        environment=environment,
        environ=os.environ,
        backup_max_age=backup_max_age,
        now=now,
    )


__all__ = [
    "BASELINE_NAME",
    "DEFAULT_BACKUP_MAX_AGE",
    "FAIL",
    "MANIFEST_VARIABLE",
    "PASS",
    "STATUSES",
    "WARN",
    "Context",
    "Outcome",
    "Result",
    "context_for",
    "diagnose",
    "exit_status",
    "items",
    "write_report",
]
