"""The `nova-config policy` command: the least-privilege Vault or IAM policy of an app."""

from __future__ import annotations

import argparse
import os
import sys

from nova_config.cli_options import add_env_option
from nova_config.errors import SettingsError, UsageError
from nova_config.policy_gen import FORMATS, ROLES, choose_format, render, usage_error
from nova_config.resolve import environment_of

EXIT_OK = 0


def add_policy_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `policy` to a command line's subcommands."""
    command = subparsers.add_parser(
        "policy", help="print the least-privilege Vault or IAM policy of the app's own secrets"
    )
    add_env_option(command)
    command.add_argument(
        "--format",
        choices=FORMATS,
        help="vault-hcl or aws-iam (default: vault-hcl when Vault is configured, else aws-iam)",
    )
    command.add_argument(
        "--role",
        choices=ROLES,
        default="reader",
        help="reader: load; watcher: also poll versions; rotator: also rotate (default reader)",
    )
    command.add_argument(
        "--settings",
        metavar="MODULE:CLASS",
        help="a settings class to check it imports (the policy depends on the stores only)",
    )


def run_policy(args: argparse.Namespace) -> int:
    """Run `policy` as parsed by `add_policy_parser`'s parser: the policy to standard output.

    Returns:
        0 when the policy was printed.

    Raises:
        UsageError: no store (or not the format's) is configured, its variables cannot be
            used, or `--settings` cannot be imported.
    """
    environ = dict(os.environ)
    if args.settings is not None:
        from nova_config.cli import load_class  # noqa: PLC0415 - cli.py imports this module

        try:
            load_class(args.settings)
        except SettingsError:
            raise UsageError(
                f"{args.settings.partition(':')[0]} loads its settings at import, and they "
                "failed; run `nova-config check` for the details"
            ) from None
    try:
        environment = args.env or environment_of({}, environ)
    except SettingsError as exc:  # NOVA_ENV names no environment
        raise usage_error(exc) from None
    fmt, stores = choose_format(environ, args.format)
    text = render(environ, environment, args.role, fmt)
    if args.format is None and len(stores) > 1:
        # Standard output is the policy alone, for a pipe into `bao policy write`.
        sys.stderr.write("nova-config: AWS is configured too: --format aws-iam for its policy\n")
    sys.stdout.write(text)
    return EXIT_OK


__all__ = ["add_policy_parser", "run_policy"]
