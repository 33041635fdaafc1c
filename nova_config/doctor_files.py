"""Doctor's file items: `.env.example` (2), the backup manifest (7), `.env` permissions (8)."""

from __future__ import annotations

import io
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dotenv.parser import parse_stream

from nova_config.doctor import (
    FAIL,
    MANIFEST_VARIABLE,
    PASS,
    Context,
    Outcome,
    listed,
    strict_status,
)
from nova_config.errors import FileReadError
from nova_config.hidden import HiddenList
from nova_config.rotation_status_cli import age_text
from nova_config.sources.fileread import read_text
from nova_config.validators import is_placeholder

EXAMPLE = ".env.example"
MAX_FILE_BYTES = 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024


def _example_problems(context: Context, text: str) -> list[str]:
    """What is wrong in `.env.example`'s entries: names missing, values not placeholders."""
    plans = context.cls.__nova_plans__
    examples = context.cls.__nova_examples__
    # Kept in a list whose repr hides it: an entry holds its value.
    entries = HiddenList(
        (b.key, b.value or "") for b in parse_stream(io.StringIO(text)) if b.key is not None
    )
    names = {key for key, _ in entries}
    settings = {plan.variable for plan in plans if not plan.secret}
    missing = [plan.variable for plan in plans if plan.variable not in names]
    # A secret, or a name the model does not know, must be empty or a placeholder.
    real = sorted(
        {
            key
            for key, value in entries
            if key not in settings and value.strip() and not is_placeholder(value, examples)
        }
    )
    problems = []
    if missing:
        problems.append(f"does not name {listed(missing)}")
    if real:
        problems.append(f"holds a value that is not a placeholder for {listed(real)}")
    return problems


def check_example(context: Context) -> Outcome:
    """Item 2: `.env.example` exists, names every field, holds placeholders, and is current."""
    from nova_config.example import render_example  # noqa: PLC0415 - only this item needs it

    path = os.path.join(context.cwd, EXAMPLE)
    regenerate = f"nova-config example --settings {context.reference} -o {EXAMPLE}"
    try:
        text = read_text(path, MAX_FILE_BYTES)
    except FileReadError:
        what = "does not exist" if not os.path.lexists(path) else "cannot be read"
        return Outcome(FAIL, f"{EXAMPLE} {what}", regenerate)
    problems = _example_problems(context, text)
    if text != render_example(context.cls, context.reference):
        problems.append(f"differs from `nova-config example --settings {context.reference}`")
    if problems:
        fix = regenerate
        if any("placeholder" in p for p in problems):
            fix += ", and rotate any real value it held: it may be in git's history"
        return Outcome(FAIL, f"{EXAMPLE} " + "; ".join(problems), fix)
    return Outcome(PASS, f"{EXAMPLE} names every field, with placeholders only, and is current")


def _env_files(context: Context) -> list[Path]:
    """`.env`, `.env.*` (not `.env.example`) and NOVA_ENV_FILE with its layers, if present."""
    folder = Path(context.cwd)
    paths = [folder / ".env", *folder.glob(".env.*")]
    configured = context.environ.get("NOVA_ENV_FILE")
    if configured:
        base = Path(context.cwd, configured)
        paths += [base, *base.parent.glob(base.name + ".*")]
    seen: dict[str, Path] = {}
    for path in paths:
        if path.name.endswith(EXAMPLE) or not path.is_file():
            continue
        seen.setdefault(os.path.realpath(path), path)
    return sorted(seen.values())


def check_permissions(context: Context) -> Outcome:
    """Item 8: no `.env` file is readable by its group or by others."""
    files = _env_files(context)
    if not files:
        return Outcome(PASS, "no .env file here")
    loose = []
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o044:
            loose.append(f"{os.path.relpath(path, context.cwd)} ({mode:04o})")
    if loose:
        names = " ".join(os.path.relpath(p, context.cwd) for p in files)
        return Outcome(FAIL, f"readable by group or others: {listed(loose)}", f"chmod 600 {names}")
    return Outcome(PASS, f"{len(files)} .env file(s), readable by their owner only")


def _manifest(path: str) -> dict[str, Any] | str:
    """The manifest's object, or why it cannot be used."""
    try:
        text = read_text(path, MAX_MANIFEST_BYTES)
    except FileReadError:
        return "does not exist" if not os.path.lexists(path) else "cannot be read"
    try:
        data = json.loads(text.strip().splitlines()[0]) if text.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return "is not a one-line JSON object"
    return data


def _backup_time(data: dict[str, Any]) -> datetime | None:
    text = data.get("time")
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def check_backup(context: Context) -> Outcome:
    """Item 7: a backup newer than `--backup-max-age`, where NOVA_BACKUP_MANIFEST says."""
    bad = strict_status(context, production_only=True)
    fix = f"back the secrets up, and set {MANIFEST_VARIABLE} to the backup's manifest"
    path = context.environ.get(MANIFEST_VARIABLE)
    if not path:
        return Outcome(bad, f"no backup manifest found ({MANIFEST_VARIABLE} is not set)", fix)
    data = _manifest(path)
    if isinstance(data, str):
        return Outcome(bad, f"no backup manifest found ({path} {data})", fix)
    when = _backup_time(data)
    if when is None:
        return Outcome(bad, f"{path}: `time` is not an RFC 3339 time with its offset", fix)
    age = context.time() - when.astimezone(UTC)
    limit = age_text(context.backup_max_age)
    covered = data.get("environments")
    if isinstance(covered, list) and context.environment not in covered:
        return Outcome(bad, f"the last backup ({path}) does not cover {context.environment}", fix)
    if age > context.backup_max_age:
        return Outcome(
            bad, f"the last backup is {age_text(age)} old (older than {limit}): {path}", fix
        )
    return Outcome(PASS, f"the last backup is {age_text(age)} old (at most {limit}): {path}")


__all__ = ["EXAMPLE", "check_backup", "check_example", "check_permissions"]
