"""The `nova-config` command: `check`, `example`, and the commands of their own modules.

`audit`, `rotate`, `rotation-status`, `scan`, `policy`, `doctor`, `backup` and `restore` keep
their parsers and exit statuses in their own modules; this one dispatches to them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from nova_config.audit_cli import add_audit_parser, run_audit
from nova_config.backup_cli import add_backup_parser, run_backup, run_restore
from nova_config.cli_options import add_settings_option
from nova_config.doctor_cli import add_doctor_parser, run_doctor
from nova_config.errors import SecretFieldError, SettingsError, UsageError
from nova_config.policy_cli import add_policy_parser, run_policy
from nova_config.provenance import ResolutionRecord
from nova_config.rotate_cli import add_rotate_parser, run_rotate
from nova_config.rotation_status_cli import add_rotation_status_parser, run_rotation_status
from nova_config.scan_cli import add_scan_parser, run_scan
from nova_config.settings import SecretSettings

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def load_class(reference: str) -> type[SecretSettings]:
    """Import `package.module:Class` and check that it is a `SecretSettings` subclass.

    Raises:
        UsageError: the reference is malformed, cannot be imported, or is not settings.
    """
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr or module_name.startswith("."):
        raise UsageError(f"--settings must look like package.module:Class (got {reference!r})")
    # Like other app runners: the application's package is usually in the working folder.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except SettingsError:
        raise  # the module loads its settings at import and they failed: `check` reports it
    except ModuleNotFoundError as exc:
        # Worded here from the module's name: the message is the raiser's and is not shown.
        missing = f"No module named {exc.name!r}" if exc.name else "a module was not found"
        raise UsageError(f"cannot import {module_name}: {missing}") from None
    except (SyntaxError, SecretFieldError) as exc:
        # These messages name files, lines and fields, never a runtime value.
        raise UsageError(f"cannot import {module_name}: {exc}") from None
    except Exception as exc:
        # Its message might quote a value the module read at import time, so only the type shows.
        raise UsageError(
            f"cannot import {module_name}: it raised {type(exc).__name__} "
            "(message not shown, as it may hold a value; import the module in Python to see it)"
        ) from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, SecretSettings)):
        raise UsageError(f"{reference} is not a nova_config.SecretSettings subclass")
    return cls


def _rows(
    cls: type[SecretSettings], record: ResolutionRecord | None, error: SettingsError | None
) -> list[dict[str, Any]]:
    bad: dict[str, str] = {}
    for problem in error.problems if error else ():
        if problem.variable is not None:
            bad.setdefault(problem.variable, problem.kind)
    rows = []
    for plan in cls.__nova_plans__:
        origin = record.provenance.get(plan.name) if record else None
        status = bad.get(plan.variable)
        if record is None:
            status = "not resolved"  # the load stopped before any source (NOVA_ENV, NOVA_SOURCES)
        elif status == "source":
            status = "error"
        elif status is None:
            status = "default" if origin and origin.source == "default" else "ok"
        rows.append(
            {
                "field": plan.name,
                "variable": plan.variable,
                "secret": plan.secret,
                "source": origin.source if origin else None,
                "location": origin.location if origin else None,
                "version": origin.version if origin else None,
                "status": status,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]], out: TextIO) -> None:
    header = ("SETTING", "SOURCE", "LOCATION", "STATUS")
    body = [(r["variable"], r["source"] or "-", r["location"] or "-", r["status"]) for r in rows]
    widths = [max(len(str(row[i])) for row in (header, *body)) for i in range(3)]
    for row in (header, *body):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, str(row[3])]).rstrip() + "\n")


def check(reference: str, *, as_json: bool, out: TextIO) -> int:
    """Load the settings and report each field's source, location and status, never a value.

    Returns:
        0 when the settings load, 1 when they do not.
    """
    error: SettingsError | None = None
    record: ResolutionRecord | None = None
    rows: list[dict[str, Any]] = []
    try:
        cls = load_class(reference)
    except SettingsError as exc:  # raised while the module itself was imported
        error, record = exc, exc.resolution
    else:
        try:
            record = cls().resolution
        except SettingsError as exc:
            error, record = exc, exc.resolution
        rows = _rows(cls, record, error)
    if as_json:
        report = {
            "settings": reference,
            "environment": record.environment if record else None,
            "ok": error is None,
            "fields": rows,
            "failed_sources": dict(record.failed) if record else {},
            "problems": [
                {"variable": p.variable, "kind": p.kind, "message": p.message}
                for p in (error.problems if error else ())
            ],
        }
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        if record and rows:
            out.write(f"{reference} in {record.environment}\n")
            _table(rows, out)
        for cause in record.failed.values() if record and not error else ():
            out.write(f"\nwarning: {cause}; the load went on without it\n")
        if error:
            out.write("\n" + str(error) + "\n")
    return EXIT_OK if error is None else EXIT_INVALID


def example(reference: str, *, output: str | None, out: TextIO) -> int:
    """Write the `.env.example` text of a settings class to a file or standard output."""
    from nova_config.example import render_example  # noqa: PLC0415 - only this command needs it

    try:
        cls = load_class(reference)
    except SettingsError:
        raise UsageError(
            f"{reference.partition(':')[0]} loads its settings at import, and they failed; "
            "run `nova-config check` for the details"
        ) from None
    text = render_example(cls, reference)
    if output in (None, "-"):
        out.write(text)
    else:
        with open(str(output), "w", encoding="utf-8") as handle:
            handle.write(text)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nova-config",
        description="Typed, validated secrets for Python services. Values are never printed.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check_cmd = commands.add_parser("check", help="load the settings and show where each came from")
    check_cmd.add_argument("--json", action="store_true", help="print a JSON report")
    example_cmd = commands.add_parser("example", help="print the .env.example for the settings")
    example_cmd.add_argument("-o", "--output", help="write to this file instead of stdout")
    for command in (check_cmd, example_cmd):
        add_settings_option(command)
    add_audit_parser(commands)
    add_rotate_parser(commands)
    add_rotation_status_parser(commands)
    add_scan_parser(commands)
    add_policy_parser(commands)
    add_doctor_parser(commands)
    add_backup_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program name (default `sys.argv[1:]`).

    Returns:
        The exit status: 0 success, 1 the settings did not load, 2 a usage error.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed its own usage message
        return int(exc.code or 0)
    try:
        # The commands that keep their own parsers and exit statuses.
        handler = {
            "audit": run_audit,
            "rotate": run_rotate,
            "rotation-status": run_rotation_status,
            "scan": run_scan,
            "policy": run_policy,
            "doctor": run_doctor,
            "backup": run_backup,
            "restore": run_restore,
        }.get(args.command)
        if handler is not None:
            return handler(args)
        if args.command == "check":
            return check(args.settings, as_json=args.json, out=sys.stdout)
        return example(args.settings, output=args.output, out=sys.stdout)
    except UsageError as exc:
        sys.stderr.write(f"nova-config: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:  # writing the example file
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"nova-config: {exc.strerror or type(exc).__name__}{where}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
