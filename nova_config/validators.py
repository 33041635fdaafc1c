"""Checks on secret values that are certain to be right; their messages never quote the value."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import SecretStr
from pydantic_core import PydanticCustomError

DISCORD_HOSTS = frozenset(
    f"{sub}{domain}"
    for sub in ("", "ptb.", "canary.")
    for domain in ("discord.com", "discordapp.com")
)
# Patterns are kept as strings and compiled (then cached by `re`) on first use, not at import:
# compiling them is a measurable part of an application's import time.
_WEBHOOK_PATH = r"/api(?:/v\d+)?/webhooks/\d{1,20}/[A-Za-z0-9_-]+/?"

# Whole values that nobody means as a real secret (matched case-insensitively).
_PLACEHOLDER = (
    r"(?:change[-_ ]?me|replace[-_ ]?me|placeholder|todo|fixme|tbd|x{3,}|\.{3,}|…"
    r"|<[^<>]*>|your[-_ ].*[-_ ]here)"
)

STRICT_ENVIRONMENTS = frozenset({"staging", "production"})

# The error type of nova-config's own checks. Their messages never quote the value, so they are
# shown as written; other validators' messages have every run of a secret cut out of them.
OWN_ERROR = "nova_invalid"


def invalid(message: str) -> PydanticCustomError:
    """The error of one of nova-config's own checks (a ValueError), shown as written."""
    return PydanticCustomError(OWN_ERROR, message)


def check_secret_text(value: str) -> None:
    """Reject an empty secret or one with surrounding whitespace.

    Raises:
        ValueError: with a message that does not contain the value (`invalid()`).
    """
    if not value:
        raise invalid("is empty")
    if value != value.strip():
        raise invalid(
            "has surrounding whitespace (a stray space or newline; "
            "secret files lose one trailing newline, no more)"
        )


def is_placeholder(value: str, examples: frozenset[str]) -> bool:
    """Whether a value is an obvious placeholder or one of the model's `.env.example` values."""
    return value in examples or re.fullmatch(_PLACEHOLDER, value.strip(), re.IGNORECASE) is not None


def check_discord_webhook(value: SecretStr) -> SecretStr:
    """Accept only an https Discord webhook URL, `/api/webhooks/<id>/<token>`.

    Args:
        value: the URL as a secret (its token is the secret part).

    Returns:
        The same value.

    Raises:
        ValueError: naming what is wrong (scheme, host, path), never the URL.
    """
    url = value.get_secret_value()
    if not url:
        return value  # the generic secret check reports an empty value
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None:
        raise invalid("is not a valid URL")
    if parts.scheme != "https":
        raise invalid("must be an https:// URL (Discord webhooks are https only)")
    if parts.hostname not in DISCORD_HOSTS or parts.username or parts.password or port:
        raise invalid(
            "must be on discord.com or discordapp.com (ptb. and canary. too), with no port or user"
        )
    if not re.fullmatch(_WEBHOOK_PATH, parts.path) or parts.fragment:
        raise invalid("must have the path /api/webhooks/<id>/<token> (copy it from Discord)")
    return value
