"""The `nova-config scan` command: its arguments, its output and its exit status."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from nova_config.errors import UsageError
from nova_config.scan import Mode, ScanFinding, find, not_accepted
from nova_config.scan_baseline import DEFAULT_BASELINE, Baseline, Fingerprints

EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2


def add_scan_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `scan` to a command line's subcommands."""
    scan = subparsers.add_parser(
        "scan", help="find secrets written into files or git history (exit 1 when found)"
    )
    scan.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="a folder or file (default .)"
    )
    mode = scan.add_mutually_exclusive_group()
    mode.add_argument("--staged", action="store_true", help="only the lines staged for commit")
    mode.add_argument(
        "--history", action="store_true", help="every line added by a commit reachable from HEAD"
    )
    scan.add_argument(
        "--baseline",
        metavar="FILE",
        help=f"accept the findings this file lists (default: {DEFAULT_BASELINE} in the scanned "
        "folder, when it exists)",
    )
    scan.add_argument(
        "--update-baseline",
        action="store_true",
        help="write every current finding to the --baseline file, and exit 0",
    )
    scan.add_argument("--json", action="store_true", help="print a JSON array of findings")


def run_scan(args: argparse.Namespace) -> int:
    """Run `scan` as parsed by `add_scan_parser`'s parser.

    Returns:
        1 when a finding is neither allowed nor in the baseline, else 0.

    Raises:
        UsageError: a path does not exist, the baseline cannot be read, or git failed.
    """
    default = os.path.join(args.paths[0], DEFAULT_BASELINE) if len(args.paths) == 1 else ""
    if not args.baseline and default and os.path.isfile(default):
        args.baseline = default
    if args.update_baseline and not args.baseline:
        raise UsageError("--update-baseline needs --baseline FILE")
    baseline: Baseline | None = None
    if args.baseline:
        exists = os.path.exists(args.baseline)
        baseline = Baseline.load(args.baseline) if exists or not args.update_baseline else None
        baseline = baseline or Baseline.new()
    mode: Mode = "staged" if args.staged else "history" if args.history else "files"
    prints = Fingerprints(baseline.salt if baseline else None)
    findings: list[ScanFinding] = []
    for path in args.paths:
        found = find(path, mode=mode, fingerprints=prints)
        if len(args.paths) > 1 and os.path.isdir(path):  # several folders: say which one
            prefix = path.replace(os.sep, "/").rstrip("/") + "/"
            found = [f._replace(path=prefix + f.path) for f in found]
        findings.extend(found)
    if args.update_baseline and baseline is not None:
        baseline.accepted = {(f.rule, f.path, f.fingerprint) for f in findings}
        try:
            baseline.write(args.baseline)
        except OSError as exc:
            raise UsageError(f"cannot write {args.baseline}: {exc.strerror}") from None
        sys.stderr.write(f"{args.baseline}: {len(baseline.accepted)} finding(s) accepted\n")
        return EXIT_OK
    shown = not_accepted(findings, baseline)
    write_findings(shown, as_json=args.json, out=sys.stdout)
    if shown and not args.json:
        sys.stderr.write(
            f"nova-config scan: {len(shown)} secret(s) found; remove them (and rotate them), "
            "or accept one with a `nova: allow` comment or --baseline\n"
        )
    return EXIT_FOUND if shown else EXIT_OK


def write_findings(findings: Sequence[ScanFinding], *, as_json: bool, out: TextIO) -> None:
    """One line per finding (`path:line: rule: preview`), or a JSON array of them."""
    if as_json:
        out.write(json.dumps([f._asdict() for f in findings], indent=2, ensure_ascii=False) + "\n")
        return
    for f in findings:
        commit = f" (commit {f.commit})" if f.commit else ""
        out.write(f"{f.path}:{f.line}: {f.rule}: {f.preview}{commit}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nova_config.scan_cli scan ...`: the command without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="nova-config")
    add_scan_parser(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return run_scan(args)
    except UsageError as exc:
        sys.stderr.write(f"nova-config: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["add_scan_parser", "main", "run_scan", "write_findings"]
