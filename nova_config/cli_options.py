"""The options the commands share: which settings class, and which environment."""

from __future__ import annotations

import argparse

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


__all__ = ["DEFAULT_SETTINGS", "add_env_option", "add_settings_option"]
