"""The `nova-config backup`, `backup verify` and `restore` commands: arguments, output, exits.

Output names counts, places and key names, never a value. Exit 0 success, 1 failure (a store,
a bad backup file, a difference found by verify, declined), 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from nova_config.backup_format import (
    Key,
    document_of,
    encrypt,
    identity_key,
    passphrase_key,
    recipients_key,
)
from nova_config.cli_options import add_settings_option
from nova_config.errors import BackupFileError, SettingsError, UsageError
from nova_config.hidden import HiddenEnviron
from nova_config.sources.base import ENVIRONMENTS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _add_env(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--env",
        action="append",
        choices=ENVIRONMENTS,
        default=[],
        metavar="ENV",
        help="an environment (repeatable; default NOVA_ENV, else development)",
    )


def _add_decryption(command: argparse.ArgumentParser) -> None:
    key = command.add_mutually_exclusive_group()
    key.add_argument("--identity", metavar="KEYFILE", help="an age identity file (age-keygen)")
    key.add_argument("--passphrase-env", metavar="VAR", help="the variable holding the passphrase")


def add_backup_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `backup` (with its form `backup verify FILE`) and `restore` to the subcommands."""
    backup = subparsers.add_parser(
        "backup",
        help="write an age-encrypted backup of the app's Vault and AWS secrets",
        description="`backup --out FILE` writes a backup; `backup verify FILE` compares one "
        "to the live stores (exit 1 on any difference). Values are never printed.",
    )
    backup.add_argument("words", nargs="*", metavar="verify FILE", help="verify FILE")
    backup.add_argument("--out", metavar="FILE", help="the backup file to write (mode 0600)")
    add_settings_option(backup)
    _add_env(backup)
    backup.add_argument("--all-envs", action="store_true", help="every environment")
    backup.add_argument("--versions", choices=("current", "all"), default="current")
    backup.add_argument(
        "--recipient", action="append", default=[], metavar="AGE1...", help="repeatable"
    )
    backup.add_argument("--recipients-file", action="append", default=[], metavar="FILE")
    _add_decryption(backup)
    restore = subparsers.add_parser(
        "restore",
        help="write a backup's keys back to the stores, as new versions",
        description="Decrypts and checks the whole file, prints the plan, then writes only "
        "with --yes (or a confirmation on a terminal).",
    )
    restore.add_argument("file", metavar="FILE")
    _add_decryption(restore)
    _add_env(restore)
    restore.add_argument("--dry-run", action="store_true", help="print the plan only")
    restore.add_argument("--yes", action="store_true", help="do not ask before writing")


def _environments(args: argparse.Namespace) -> list[str]:
    if getattr(args, "all_envs", False):
        if args.env:
            raise UsageError("--env and --all-envs exclude each other")
        return list(ENVIRONMENTS)
    if args.env:
        return list(dict.fromkeys(args.env))
    return [os.environ.get("NOVA_ENV") or "development"]


def _decryption(args: argparse.Namespace) -> Key:
    if args.identity:
        return identity_key(args.identity)
    if args.passphrase_env:
        return passphrase_key(HiddenEnviron(os.environ), args.passphrase_env)
    raise UsageError("give the key: --identity KEYFILE or --passphrase-env VAR")


def _encryption(args: argparse.Namespace) -> Key:
    if args.passphrase_env and (args.recipient or args.recipients_file):
        raise UsageError("--passphrase-env excludes --recipient and --recipients-file")
    if args.passphrase_env:
        return passphrase_key(HiddenEnviron(os.environ), args.passphrase_env)
    if args.identity:
        raise UsageError("a backup is encrypted to recipients: --recipient, not --identity")
    return recipients_key(args.recipient, args.recipients_file)


def _audit(settings: str, environments: Sequence[str], own: dict[str, object]) -> None:
    from nova_config.audit import record_event  # noqa: PLC0415 - the audit code only here

    for environment in environments:
        record_event(settings, environment, HiddenEnviron(os.environ), own)


def _write(args: argparse.Namespace, out: TextIO) -> int:
    from nova_config.backup import (  # noqa: PLC0415 - the stores only when used
        collect,
        write_manifest,
        write_private,
    )
    from nova_config.cli import load_class  # noqa: PLC0415 - cli.py imports this module

    if not args.out:
        raise UsageError("backup needs --out FILE (or: backup verify FILE)")
    key = _encryption(args)
    environments = _environments(args)
    load_class(args.settings)
    backup = collect(args.settings, environments, args.versions == "all")
    digest = write_private(args.out, encrypt(document_of(backup), key))
    manifest = write_manifest(args.out, backup, digest)
    locations = sorted({f"{e.store}:{e.location}" for e in backup.entries})
    out.write(f"backed up {len(backup.entries)} entries from {len(locations)} places to ")
    out.write(f"{args.out} (manifest {manifest})\n")
    for location in locations:
        count = sum(f"{e.store}:{e.location}" == location for e in backup.entries)
        out.write(f"  {location}: {count}\n")
    own = {"event": "backup_written", "file": args.out, "entries": len(backup.entries)}
    _audit(args.settings, environments, own | {"locations": locations, "sha256": digest})
    return EXIT_OK


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    from nova_config.backup_restore import VERIFIED, differences, load, survey  # noqa: PLC0415

    if len(args.words) != 2:
        raise UsageError("backup verify takes one FILE")
    states = survey(load(args.words[1], _decryption(args)), args.env)
    for state in states:
        for name, action in state.actions:
            out.write(f"{VERIFIED[action]:<14} {state.store}:{state.place.location}#{name}\n")
    found = differences(states)
    out.write(f"{found} difference(s) between {args.words[1]} and the live stores\n")
    return EXIT_OK if found == 0 else EXIT_FAILED


def _confirmed(args: argparse.Namespace, err: TextIO) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        err.write("nova-config: nothing was written: give --yes to write without a terminal\n")
        return False
    err.write("write these changes? [y/N] ")
    err.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _restore(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from nova_config.backup_restore import ADDED, apply, load, survey  # noqa: PLC0415

    key = _decryption(args)
    backup = load(args.file, key)
    states = survey(backup, args.env)
    counts: dict[str, int] = {}
    for state in states:
        for name, action in state.actions:
            if action != ADDED:
                counts[action] = counts.get(action, 0) + 1
                out.write(f"{action:<10} {state.store}:{state.place.location}#{name}\n")
    summary = ", ".join(f"{counts.get(a, 0)} to {a}" for a in ("create", "update"))
    out.write(f"{summary}, {counts.get('unchanged', 0)} unchanged\n")
    if args.dry_run:
        return EXIT_OK
    changed = any(state.changes for state in states)
    if changed and not _confirmed(args, err):
        return EXIT_FAILED
    written = apply(states) if changed else []
    for location, version in written:
        out.write(f"wrote {location} (version {version})\n")
    own = {"event": "backup_restored", "file": args.file, "locations": [w for w, _ in written]}
    _audit(backup.settings or "-", args.env or backup.environments, own)
    return EXIT_OK


def _dispatch(args: argparse.Namespace, restore: bool, out: TextIO, err: TextIO) -> int:
    if restore:
        return _restore(args, out, err)
    if args.words[:1] == ["verify"]:
        return _verify(args, out)
    if args.words:
        raise UsageError(f"backup takes no {args.words[0]!r}; did you mean: backup verify?")
    return _write(args, out)


def _run(args: argparse.Namespace, restore: bool) -> int:
    """Run a command; its failure as one line on stderr, never a traceback."""
    status, message = EXIT_FAILED, ""
    try:
        return _dispatch(args, restore, sys.stdout, sys.stderr)
    except UsageError as exc:
        status, message = EXIT_USAGE, str(exc)
    except BackupFileError as exc:
        message = f"{exc}; nothing was written" if restore else str(exc)
    except SettingsError as exc:
        causes = "; ".join(p.message for p in exc.problems)
        message = f"{'restore' if restore else 'backup'} failed: {causes}"
    except OSError as exc:  # the backup file or its folder
        where = f": {exc.filename}" if exc.filename else ""
        message = f"{exc.strerror or type(exc).__name__}{where}"
    sys.stderr.write(f"nova-config: {message}\n")
    return status


def run_backup(args: argparse.Namespace) -> int:
    """Run `backup` or `backup verify FILE` as parsed by `add_backup_parser`'s parser.

    Returns:
        0 written (or verified equal); 1 a store failed, the file is unusable, or verify found
        a difference; 2 a usage error.
    """
    return _run(args, restore=False)


def run_restore(args: argparse.Namespace) -> int:
    """Run `restore FILE` as parsed by `add_backup_parser`'s parser.

    Returns:
        0 written, planned (--dry-run) or nothing to do; 1 nothing written because the file
        is unusable, a store failed, or the write was declined (a store failing part-way
        through leaves the places before it written); 2 a usage error.
    """
    return _run(args, restore=True)


__all__ = ["add_backup_parser", "run_backup", "run_restore"]
