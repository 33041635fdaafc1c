"""The options the commands share: which settings class, and which environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from nova_config.sources.base import ENVIRONMENTS

DEFAULT_SETTINGS = "nova_config.settings:NovaSettings"


def add_settings_option(command: argparse.ArgumentParser) -> None:
    """`--settings MODULE:CLASS`, the settings class a command loads."""
    command.add_argument(
        "--settings",
        default=DEFAULT_SETTINGS,
        metavar="MODULE:CLASS",
        help=f"the settings class (default {DEFAULT_SETTINGS})",
    )


def add_env_option(command: argparse.ArgumentParser) -> None:
    """`--env ENV`, the environment a command loads the settings for."""
    command.add_argument(
        "--env", choices=ENVIRONMENTS, help="the environment (default NOVA_ENV, else development)"
    )


@contextmanager
def environment_set(name: str | None) -> Iterator[None]:
    """NOVA_ENV set to `name` for the block (loads and stores read it), then as it was.

    With `name` None (no `--env`), NOVA_ENV is left as it is.
    """
    before = os.environ.get("NOVA_ENV")
    if name is not None:
        os.environ["NOVA_ENV"] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("NOVA_ENV", None)
        else:
            os.environ["NOVA_ENV"] = before


__all__ = ["DEFAULT_SETTINGS", "add_env_option", "add_settings_option", "environment_set"]
