"""Vault's answers judged in one place: one table from status to error, and transport failures.

As hvac's `VaultError.from_status` maps a status to an exception class, `STATUSES` maps it to the
project's error and what it means; the caller adds where it happened (a login, a read). Nothing
here quotes an exception's text or a body: either can carry a URL, a header or a secret.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from nova_config.errors import (
    SourceError,
    StoreAccessError,
    StoreDataError,
    StoreUnavailableError,
)
from nova_config.hidden import hidden_object
from nova_config.sources.connections import ConnectTimeout, TlsError


class Reply(NamedTuple):
    """A status and a JSON body; every object of the body is a HiddenDict (see `reply_of`)."""

    status: int
    body: dict[str, Any]


class Verdict(NamedTuple):
    """What a status means: the error it becomes, its name in messages, and whether to retry."""

    kind: type[SourceError]
    meaning: str
    retry: bool = False


REFUSED = Verdict(StoreAccessError, "refused")  # a login's credentials (400 for a missing part)
DENIED = Verdict(StoreAccessError, "permission denied")
NOT_FOUND = Verdict(StoreDataError, "not found")
THROTTLED = Verdict(StoreUnavailableError, "throttled", retry=True)
# Busy, restarting, or behind a proxy that is: worth another attempt.
UNAVAILABLE = Verdict(StoreUnavailableError, "unreachable", retry=True)
SEALED = Verdict(StoreUnavailableError, "sealed")
FAILED = Verdict(StoreUnavailableError, "failed")

STATUSES: dict[int, Verdict] = {
    400: REFUSED,
    401: REFUSED,
    403: DENIED,
    404: NOT_FOUND,
    429: THROTTLED,
    500: UNAVAILABLE,
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: UNAVAILABLE,
}


def judge(reply: Reply) -> Verdict | None:
    """What an answer means: None for a success, else its entry in `STATUSES`.

    A 503 that says the Vault is sealed is `SEALED` (no retry helps); a status the table lacks
    is `FAILED`.
    """
    if 200 <= reply.status < 300:
        return None
    if reply.status == 503 and mentions(reply.body, "sealed"):
        return SEALED
    return STATUSES.get(reply.status, FAILED)


def mentions(body: dict[str, Any], text: str) -> bool:
    """Whether Vault's errors or warnings in a body mention `text` (lower case)."""
    notes = [*(body.get("errors") or ()), *(body.get("warnings") or ())]
    return any(text in str(note).lower() for note in notes)


# A KV answer is the secrets: every object in it becomes a dict whose repr hides its values. One
# decoder for the process (json.loads with a hook would build a new one for every answer).
_DECODER = json.JSONDecoder(object_hook=hidden_object)


def reply_of(status: int, content: bytes) -> Reply:
    """The status and JSON body of an answer (an empty body when it is not a JSON object)."""
    try:
        body = _DECODER.decode(content.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        body = {}
    return Reply(status, body if isinstance(body, dict) else {})


def transport_cause(exc: Exception) -> tuple[str, bool]:
    """Why a request got no answer, and whether that is final (no retry helps).

    From the exception's type, for the kept-alive connections' errors and requests' alike;
    never its text, which carries the URL and, with some proxies or a refused header, a token.
    """
    import requests  # noqa: PLC0415 - hvac's own transport, present whenever hvac is

    if isinstance(exc, TlsError | requests.exceptions.SSLError):
        return "TLS handshake failed; check VAULT_CACERT", True  # a certificate stays wrong
    if isinstance(exc, ConnectTimeout | requests.exceptions.ConnectTimeout):
        return "connect timed out", False
    if isinstance(exc, TimeoutError | requests.exceptions.Timeout):
        return "no answer in time", False
    if isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, requests.exceptions.ConnectionError) and "refused" in str(exc).lower()
    ):
        return "connection refused", False
    if isinstance(exc, ValueError) and not isinstance(exc, OSError):
        # A header refused, or a URL that cannot be sent.
        return f"the request could not be sent ({type(exc).__name__})", True
    return "connection failed", False


__all__ = [
    "DENIED",
    "NOT_FOUND",
    "REFUSED",
    "SEALED",
    "STATUSES",
    "Reply",
    "Verdict",
    "judge",
    "mentions",
    "reply_of",
    "transport_cause",
]
