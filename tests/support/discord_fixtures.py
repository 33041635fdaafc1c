"""The Discord stand-in as a fixture: one per test, stopped at teardown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.discord import DiscordStandIn, RunningDiscord


@pytest.fixture
def discord() -> Iterator[DiscordStandIn]:
    """A Discord stand-in serving on a thread, stopped at teardown."""
    running = RunningDiscord()
    try:
        yield running.server
    finally:
        running.stop()
