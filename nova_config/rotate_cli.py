"""The `nova-config rotate` command: its arguments, where the new value comes from, its output."""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from typing import TextIO

from nova_config.cli_options import add_env_option, add_settings_option, environment_set
from nova_config.errors import SettingsError, UsageError
from nova_config.hidden import HiddenStr
from nova_config.rotate import (
    Target,
    audit_rotation,
    audit_wanted,
    check_audit_log,
    locate,
    locate_loaded,
    refused,
    validate,
    write,
)
from nova_config.settings import SecretSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_LENGTH = 32
# Below 16 URL-safe characters (96 bits) a generated secret is too easy to guess; far above
# 4096 no store or app expects one.
MIN_LENGTH, MAX_LENGTH = 16, 4096


def _length(text: str) -> int:
    if not (text.isascii() and text.isdecimal()) or not MIN_LENGTH <= int(text) <= MAX_LENGTH:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a length from {MIN_LENGTH} to {MAX_LENGTH}"
        )
    return int(text)


def add_rotate_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `rotate` to a command line's subcommands."""
    rotate = subparsers.add_parser(
        "rotate",
        help="write a new value of one secret to the store that serves it",
        description="The new value comes from standard input (one line), a prompt on a "
        "terminal, or --generate; it is never an argument and never printed.",
    )
    rotate.add_argument("field", metavar="FIELD", help="the field's name or variable, any case")
    add_settings_option(rotate)
    add_env_option(rotate)
    rotate.add_argument(
        "--generate",
        nargs="?",
        const=DEFAULT_LENGTH,
        type=_length,
        metavar="LENGTH",
        help=f"a random URL-safe value of LENGTH characters (default {DEFAULT_LENGTH})",
    )
    rotate.add_argument(
        "--database",
        action="store_true",
        help="also set it as the database role's password (TIMESCALE_PASSWORD): staged as "
        "pending, set, tested with a new connection, then promoted; a second run resumes",
    )
    rotate.add_argument("--yes", action="store_true", help="do not ask before writing")
    rotate.add_argument("--json", action="store_true", help="print the result as JSON")


def generate(length: int = DEFAULT_LENGTH) -> HiddenStr:
    """A random URL-safe value of `length` characters (`secrets.token_urlsafe`, cut)."""
    return HiddenStr(secrets.token_urlsafe(length)[:length])


def read_value(target: Target, stdin: TextIO) -> HiddenStr:
    """The new value: asked twice without echo on a terminal, else one line of `stdin`.

    Raises:
        RotationError: the two entries on a terminal differ.
    """
    if stdin.isatty():
        first = HiddenStr(getpass.getpass(f"new value of {target.plan.variable}: "))
        if first != getpass.getpass("the same again: "):
            raise refused("the two entries differ; nothing was written")
        return first
    line = HiddenStr(stdin.readline())
    cut = 2 if line.endswith("\r\n") else 1 if line.endswith("\n") else 0
    return HiddenStr(line[: len(line) - cut])


def _confirm(target: Target, stdin: TextIO, err: TextIO, also: str = "") -> bool:
    err.write(
        f"write a new value of {target.plan.variable} to {target.origin}{also} "
        f"in {target.environment}? [y/N] "
    )
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def _candidate(args: argparse.Namespace, target: Target, err: TextIO, also: str = "") -> HiddenStr:
    """The new value, generated or read, validated by the model, and confirmed on a terminal."""
    stdin = sys.stdin
    try:
        candidate = generate(args.generate) if args.generate else read_value(target, stdin)
        validate(target, candidate)
        if not args.yes and stdin.isatty() and not _confirm(target, stdin, err, also):
            raise refused("declined; nothing was written")
    except (KeyboardInterrupt, EOFError):
        raise refused("interrupted; nothing was written") from None
    return candidate


def _steps(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Locate, read, validate, confirm, write, audit; errors go up to `run_rotate`."""
    from nova_config.cli import load_class  # noqa: PLC0415 - cli.py imports this module

    if args.database:
        return _database_steps(load_class(args.settings), args, out, err)
    target = locate(load_class(args.settings), args.field)
    candidate = _candidate(args, target, err)
    if audit_wanted():
        check_audit_log()
    rotation = write(target, candidate)
    _show(rotation._asdict(), rotation.describe(), as_json=args.json, out=out)
    audit_rotation(target, rotation)
    return EXIT_OK


def _database_steps(
    cls: type[SecretSettings], args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """Locate, settle an earlier run, read, validate, confirm, then the four steps (audited)."""
    from nova_config import rotate_db  # noqa: PLC0415 - psycopg only with --database

    target, settings = locate_loaded(cls, args.field)
    job = rotate_db.prepare(target, settings)
    if audit_wanted():
        check_audit_log()
    begun = rotate_db.begin(job)
    if begun.rolled_back:
        err.write(
            f"nova-config: removed the pending value of an unfinished rotation of "
            f"{target.plan.variable}: the database still takes the current one\n"
        )
    done = begun.done
    if done is None:
        also = f" and set it as the password of {job.database.shown}"
        candidate = _candidate(args, target, err, also)
        done = rotate_db.rotate_database(job, begun.staged, candidate)
    _show(done.as_dict(), done.describe(), as_json=args.json, out=out)
    return EXIT_OK


def _show(shown: dict[str, object], line: str, *, as_json: bool, out: TextIO) -> None:
    out.write(json.dumps(shown, indent=2) + "\n" if as_json else line + "\n")
    out.flush()


def run_rotate(args: argparse.Namespace) -> int:
    """Run `rotate` as parsed by `add_rotate_parser`'s parser.

    Returns:
        0 when the value was written (an audit log that fails after the write is logged as
        an error: the rotation is done); 1 when nothing was written (a store unreachable or
        denied, an invalid value, a conflict, declined, an audit log that cannot be opened;
        with --database, a step that failed, its changes undone where that is safe);
        2 for a usage error (an unknown field, a field no store serves, --database for
        another field or on KV v1).
    """
    out, err = sys.stdout, sys.stderr
    try:
        with environment_set(args.env):
            return _steps(args, out, err)
    except UsageError as exc:
        err.write(f"nova-config: {exc}\n")
        return EXIT_USAGE
    except SettingsError as exc:
        causes = [p.message for p in exc.problems]
        shown = (
            causes[0]
            if len(causes) == 1
            else "".join("\n  - " + c.replace("\n", "\n    ") for c in causes)
        )
        err.write(f"nova-config: {args.field} not rotated: {shown}\n")
        return EXIT_FAILED


__all__ = ["add_rotate_parser", "generate", "read_value", "run_rotate"]
