"""Value checks: the Discord webhook URL, empty and padded secrets, placeholders by environment."""

from __future__ import annotations

import pytest

from nova_config import NovaSettings, SettingsError
from tests.support.data import WEBHOOK, valid_kwargs


def load(**values: str) -> NovaSettings:
    """Load with the valid secrets, overridden by keyword arguments."""
    return NovaSettings(**valid_kwargs(**values))


@pytest.mark.parametrize(
    "url",
    [
        WEBHOOK,
        "https://discordapp.com/api/webhooks/1/tok",
        "https://ptb.discord.com/api/webhooks/1/tok",
        "https://canary.discordapp.com/api/webhooks/1/tok/",
        "https://discord.com/api/v10/webhooks/1/tok?wait=true",
    ],
)
def test_discord_webhook_accepted(url: str) -> None:
    """https webhook URLs on discord.com/discordapp.com (ptb., canary., versioned API) load."""
    assert load(discord_webhook_url=url).discord_webhook_url.get_secret_value() == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://discord.com/api/webhooks/1/tok", "must be an https:// URL"),
        ("https://discord.com.evil.io/api/webhooks/1/tok", "must be on discord.com"),
        ("https://evil.io/discord.com/api/webhooks/1/tok", "must be on discord.com"),
        ("https://user@discord.com/api/webhooks/1/tok", "with no port or user"),
        ("https://discord.com:8443/api/webhooks/1/tok", "with no port or user"),
        (
            "https://discord.com/api/webhooks/abc/tok",
            "must have the path /api/webhooks/<id>/<token>",
        ),
        ("https://discord.com/api/webhooks/1", "must have the path"),
        ("https://discord.com/api/webhooks/1/tok#frag", "must have the path"),
        ("https://discord.com:bad/api/webhooks/1/tok", "is not a valid URL"),
        ("discord.com/api/webhooks/1/tok", "must be an https:// URL"),
    ],
)
def test_discord_webhook_rejected_with_reason(url: str, reason: str) -> None:
    """A URL that is not a Discord webhook is invalid, with the reason and never the URL."""
    with pytest.raises(SettingsError) as excinfo:
        load(discord_webhook_url=url)
    (problem,) = excinfo.value.problems
    assert problem.variable == "DISCORD_WEBHOOK_URL"
    assert reason in problem.message
    assert url not in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        (" AK1", "has surrounding whitespace"),
        ("AK1\n", "has surrounding whitespace"),
    ],
)
def test_empty_or_padded_secret_is_invalid_everywhere(value: str, reason: str) -> None:
    """Even in development, a secret must be non-empty with no surrounding whitespace."""
    with pytest.raises(SettingsError, match=f"ALPACA_API_KEY .* is invalid: {reason}"):
        load(alpaca_api_key=value)


PLACEHOLDERS = [
    "changeme",
    "CHANGE-ME",
    "...",
    "…",
    "<your-key>",
    "your-alpaca-key-here",
    "xxxxxxxx",
    "your-alpaca-api-key-id-here",  # the .env.example value
]


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_placeholder_refused_in_staging_and_production(environment: str, value: str) -> None:
    """An obvious placeholder or a .env.example value is refused where it matters."""
    with pytest.raises(SettingsError, match=r"ALPACA_API_KEY .* is a placeholder"):
        load(environment=environment, alpaca_api_key=value)


def test_example_webhook_refused_in_production() -> None:
    """The .env.example Discord URL is refused in production (it also fails URL checks)."""
    example = "https://discord.com/api/webhooks/<webhook-id>/<webhook-token>"
    with pytest.raises(SettingsError, match="DISCORD_WEBHOOK_URL"):
        load(environment="production", discord_webhook_url=example)


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_placeholder_allowed_in_development(value: str) -> None:
    """A developer's laptop may run on placeholders."""
    assert load(alpaca_api_key=value).alpaca_api_key.get_secret_value() == value


@pytest.mark.parametrize("value", ["AKX9...", "my-your-key-here-2", "changeme2024!"])
def test_real_looking_values_pass_in_production(value: str) -> None:
    """Only whole-value placeholders are refused; a secret that merely contains one is kept."""
    assert load(environment="production", alpaca_api_key=value).alpaca_api_key is not None


def test_optional_secret_placeholder_refused_in_production() -> None:
    """ALPACA_SECRET_KEY, though optional, is checked when set."""
    with pytest.raises(SettingsError, match=r"ALPACA_SECRET_KEY .* is a placeholder"):
        load(environment="production", alpaca_secret_key="your-alpaca-secret-key-here")
