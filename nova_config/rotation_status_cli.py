"""The `nova-config rotation-status` command: each secret's age, and which are overdue."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any, TextIO

from nova_config.audit_cli import UNITS
from nova_config.cli_options import add_env_option, add_settings_option, environment_set
from nova_config.errors import SettingsError
from nova_config.rotation_status import DEFAULT_MAX_AGE, SecretAge, rotation_status

EXIT_OK, EXIT_OVERDUE = 0, 1


def parse_max_age(text: str) -> timedelta:
    """A duration such as `90d`, `12h`, `30m` or `45s`; `0d` makes every known age overdue.

    Raises:
        argparse.ArgumentTypeError: the text is not a whole number and one of s, m, h, d.
    """
    number, unit = text[:-1], text[-1:]
    # isascii: isdecimal alone takes other scripts' digits, which int() would read.
    if unit not in UNITS or not (number.isascii() and number.isdecimal()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90d, 12h or 30m")
    try:
        return timedelta(seconds=int(number) * UNITS[unit])
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than any secret's life") from None


def add_rotation_status_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add `rotation-status` to a command line's subcommands."""

    command = subparsers.add_parser(
        "rotation-status", help="show each secret's age and whether it is overdue for rotation"
    )
    command.add_argument(
        "--max-age",
        type=parse_max_age,
        default=DEFAULT_MAX_AGE,
        metavar="AGE",
        help="overdue when older than this: 90d, 12h, 30m (default 90d)",
    )
    add_settings_option(command)
    add_env_option(command)
    command.add_argument("--json", action="store_true", help="print a JSON report")


def run_rotation_status(args: argparse.Namespace) -> int:
    """Run `rotation-status` as parsed by `add_rotation_status_parser`'s parser.

    Returns:
        0 when no secret is overdue, 1 when one is or the settings do not load.

    Raises:
        UsageError: `--settings` cannot be imported or is not a SecretSettings subclass.
    """
    from nova_config.cli import EXIT_INVALID, load_class  # noqa: PLC0415 - cli.py imports this

    out = sys.stdout
    with environment_set(args.env):
        try:
            settings = load_class(args.settings)()
            ages = rotation_status(settings, args.max_age)
        except SettingsError as exc:  # as `check` prints it: no value in it
            if args.json:
                problems = [p._asdict() for p in exc.problems]
                out.write(
                    json.dumps({"settings": args.settings, "ok": False, "problems": problems})
                )
                out.write("\n")
            else:
                out.write(str(exc) + "\n")
            return EXIT_INVALID
    overdue = any(age.status == "overdue" for age in ages)
    if args.json:
        report = {
            "settings": args.settings,
            "environment": settings.resolution.environment,
            "max_age_seconds": int(args.max_age.total_seconds()),
            "ok": not overdue,
            "fields": [_json_row(age) for age in ages],
        }
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        _table(args.settings, settings.resolution.environment, args.max_age, ages, out)
    return EXIT_OVERDUE if overdue else EXIT_OK


def age_text(age: timedelta | None) -> str:
    """An age as people read it: `97d 4h`, `90d`, `5h 12m`, `42s`; `-` when unknown."""
    if age is None:
        return "-"
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return (
        f"{hours}h {minutes}m" if hours else f"{minutes}m {seconds}s" if minutes else f"{seconds}s"
    )


def _json_row(age: SecretAge) -> dict[str, Any]:
    row = age._asdict()
    row["created"] = age.created.isoformat() if age.created else None
    row["age_seconds"] = round(age.age.total_seconds(), 3) if age.age is not None else None
    del row["age"]
    return row


def _table(
    settings: str, environment: str, max_age: timedelta, ages: list[SecretAge], out: TextIO
) -> None:
    out.write(f"{settings} in {environment}, overdue after {age_text(max_age)}\n")
    header = ("SETTING", "SOURCE", "LOCATION", "VERSION", "CREATED", "AGE", "STATUS")
    body = [
        (
            age.variable,
            age.source or "-",
            age.location or "-",
            age.version or "-",
            age.created.strftime("%Y-%m-%d %H:%M") if age.created else "-",
            age_text(age.age),
            age.status,
        )
        for age in ages
    ]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header) - 1)]
    for row in (header, *body):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    notes = [
        f"  {age.variable}: {age.note}" for age in ages if age.status == "unknown" and age.note
    ]
    if notes:
        out.write("\nunknown ages:\n" + "\n".join(notes) + "\n")


__all__ = ["add_rotation_status_parser", "age_text", "parse_max_age", "run_rotation_status"]
