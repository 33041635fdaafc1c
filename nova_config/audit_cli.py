"""The `nova-config audit verify|report` commands: their arguments and their output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from nova_config.audit_report import DEFAULT_BURST, Finding, report, time_text
from nova_config.audit_verify import verify

EXIT_OK, EXIT_FOUND = 0, 1
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A finding's text line lists this many of its lines; --json lists them all.
SHOWN_LINES = 10


def parse_duration(text: str) -> timedelta:
    """A duration such as `90s`, `30m`, `12h` or `7d` (argparse's `type` for `--since`).

    Raises:
        argparse.ArgumentTypeError: the text is not a whole number and one of s, m, h, d.
    """
    number, unit = text[:-1], text[-1:]
    # isascii: isdecimal alone takes other scripts' digits, which int() would read.
    if unit not in UNITS or not (number.isascii() and number.isdecimal()) or int(number) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 30m, 12h or 7d")
    try:
        return timedelta(seconds=int(number) * UNITS[unit])
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than any log") from None


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdecimal()) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def add_audit_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit verify` and `audit report` to a command line's subcommands."""
    audit = subparsers.add_parser("audit", help="verify or summarise audit logs")
    commands = audit.add_subparsers(dest="audit_command", metavar="{verify,report}", required=True)
    verify_cmd = commands.add_parser("verify", help="check that the logs' chains are intact")
    verify_cmd.add_argument("files", nargs="+", metavar="FILE", help="an audit log")
    report_cmd = commands.add_parser("report", help="sum up the logs and flag what needs a look")
    report_cmd.add_argument("files", nargs="+", metavar="FILE", help="an audit log")
    report_cmd.add_argument(
        "--since",
        type=parse_duration,
        metavar="AGE",
        help="only events newer than this: 90s, 30m, 12h, 7d (default all)",
    )
    report_cmd.add_argument(
        "--burst",
        type=_positive,
        default=DEFAULT_BURST,
        metavar="N",
        help=f"flag more than N loads from one host within a minute (default {DEFAULT_BURST})",
    )
    report_cmd.add_argument("--json", action="store_true", help="print a JSON report")


def run_audit(args: argparse.Namespace) -> int:
    """Run `audit verify` or `audit report` as parsed by `add_audit_parser`'s parsers.

    Returns:
        0 when the logs are intact (verify) or nothing was found (report), else 1.

    Raises:
        UsageError: a file cannot be read.
    """
    if args.audit_command == "verify":
        return verify_command(args.files, out=sys.stdout)
    return report_command(
        args.files, since=args.since, burst=args.burst, as_json=args.json, out=sys.stdout
    )


def verify_command(paths: Sequence[str], *, out: TextIO) -> int:
    """Verify each log and print one line for it: its size, or its first break, never content.

    Returns:
        0 when every chain is intact, else 1.
    """
    status = EXIT_OK
    for path in paths:
        lines, broken = verify(path)
        if broken is None:
            out.write(f"{path}: {lines} lines, chain intact\n")
        else:
            out.write(f"{path}:{broken.line}: chain broken: line {broken.line} {broken.reason}\n")
            status = EXIT_FOUND
    return status


def report_command(
    paths: Sequence[str], *, since: timedelta | None, burst: int, as_json: bool, out: TextIO
) -> int:
    """Print the report of some logs, as text or JSON.

    Returns:
        0 when nothing was found, else 1.
    """
    cutoff = None
    if since is not None:
        try:
            cutoff = time_text(datetime.now(UTC) - since)
        except OverflowError:
            cutoff = None  # before year 1: every event is newer
    result = report(paths, since=cutoff, burst=burst)
    if as_json:
        findings = [finding._asdict() for finding in result.findings]
        out.write(json.dumps({"totals": result.totals, "findings": findings}, indent=2) + "\n")
    else:
        _write_totals(result.totals, out)
        out.write(f"findings: {len(result.findings) or 'none'}\n")
        for finding in result.findings:
            out.write(_finding_line(finding))
    return EXIT_FOUND if result.findings else EXIT_OK


def _write_totals(totals: dict[str, Any], out: TextIO) -> None:
    out.write(
        f"{totals['files']} file(s), {totals['lines']} lines, {sum(totals['events'].values())} "
        f"events counted ({totals['skipped']} lines skipped as not events, "
        f"{totals['older']} events older than --since)\n"
    )
    rows = [(r["settings"], r["environment"], r["host"]) for r in totals["loads"]]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    out.write("loads by settings, environment and host:\n" if rows else "loads: none\n")
    for row, counts in zip(rows, totals["loads"], strict=True):
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write(f"  {cells}  {counts['loads']} ({counts['failed']} failed)\n")
    for title, key in (
        ("store failures", "failures"),
        ("secrets resolved by source", "secrets"),
        ("events", "events"),
    ):
        counts = ", ".join(f"{name} {count}" for name, count in totals[key].items())
        out.write(f"{title}: {counts or 'none'}\n")


def _finding_line(finding: Finding) -> str:
    text = f"{finding.file}:{finding.lines[0]}: {finding.kind}: {finding.detail}"
    if len(finding.lines) > 1:
        shown = ", ".join(str(line) for line in finding.lines[:SHOWN_LINES])
        more = ", ..." if len(finding.lines) > SHOWN_LINES else ""
        text += f" ({len(finding.lines)} lines: {shown}{more})"
    return text + "\n"


__all__ = ["add_audit_parser", "parse_duration", "report_command", "run_audit", "verify_command"]
