"""The `nova-config doctor` command: the security checklist, pass, warn or fail per item."""

from __future__ import annotations

import argparse
import os
import sys

from nova_config.cli_options import add_env_option, add_settings_option
from nova_config.doctor import DEFAULT_BACKUP_MAX_AGE, context_for, diagnose, exit_status
from nova_config.doctor import write_report as _write_report
from nova_config.errors import SettingsError, UsageError
from nova_config.resolve import environment_of
from nova_config.rotation_status_cli import parse_max_age


def add_doctor_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `doctor` to a command line's subcommands."""
    command = subparsers.add_parser(
        "doctor", help="check the repository and the stores against the security checklist"
    )
    add_settings_option(command)
    add_env_option(command)
    command.add_argument("--json", action="store_true", help="print a JSON list of the items")
    command.add_argument(
        "--backup-max-age",
        type=parse_max_age,
        default=DEFAULT_BACKUP_MAX_AGE,
        metavar="AGE",
        help="the oldest a backup may be: 7d, 12h (default 7d)",
    )


def run_doctor(args: argparse.Namespace) -> int:
    """Run `doctor` as parsed by `add_doctor_parser`'s parser.

    Returns:
        0 when no item fails, 1 when one does.

    Raises:
        UsageError: `--settings` cannot be imported, is not settings, or loads at import and
            fails; NOVA_ENV names no environment.
    """
    from nova_config.cli import load_class  # noqa: PLC0415 - cli.py imports this module

    try:
        cls = load_class(args.settings)
    except SettingsError:
        raise UsageError(
            f"{args.settings.partition(':')[0]} loads its settings at import, and they failed; "
            "run `nova-config check` for the details"
        ) from None
    try:
        environment = args.env or environment_of({}, os.environ)
    except SettingsError as exc:  # EnvironmentNameError: names the variable, not its value
        raise UsageError(str(exc)) from None
    context = context_for(cls, args.settings, environment, backup_max_age=args.backup_max_age)
    results = diagnose(context)
    _write_report(results, sys.stdout, as_json=args.json)
    return exit_status(results)


__all__ = ["add_doctor_parser", "run_doctor"]
