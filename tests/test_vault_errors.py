"""Vault's status table: each status becomes one project error, judged in one place."""

from __future__ import annotations

import pytest
import requests

from nova_config.errors import StoreAccessError, StoreDataError, StoreUnavailableError
from nova_config.sources.vault_errors import (
    DENIED,
    NOT_FOUND,
    REFUSED,
    SEALED,
    Reply,
    judge,
    reply_of,
    transport_cause,
)


@pytest.mark.parametrize("status", [200, 204])
def test_a_success_has_no_verdict(status: int) -> None:
    assert judge(Reply(status, {})) is None


@pytest.mark.parametrize(
    ("status", "kind", "retry"),
    [
        (400, StoreAccessError, False),
        (401, StoreAccessError, False),
        (403, StoreAccessError, False),
        (404, StoreDataError, False),
        (429, StoreUnavailableError, True),
        (500, StoreUnavailableError, True),
        (502, StoreUnavailableError, True),
        (503, StoreUnavailableError, True),
        (504, StoreUnavailableError, True),
        (418, StoreUnavailableError, False),  # not in the table: a failure, not retried
    ],
)
def test_each_status_maps_to_one_error(status: int, kind: type[Exception], retry: bool) -> None:
    verdict = judge(Reply(status, {}))
    assert verdict is not None
    assert verdict.kind is kind
    assert verdict.retry is retry


def test_named_verdicts_are_the_table_entries() -> None:
    assert judge(Reply(403, {})) is DENIED
    assert judge(Reply(404, {})) is NOT_FOUND
    assert judge(Reply(400, {})) is REFUSED


def test_a_sealed_503_is_not_retried() -> None:
    sealed = judge(Reply(503, {"errors": ["Vault is sealed"]}))
    assert sealed is SEALED
    assert not sealed.retry
    assert judge(Reply(503, {"errors": ["standby"]})) is not SEALED


def test_reply_bodies_hide_their_values() -> None:
    canary = "canary-vault-errors-7f3e9a"
    reply = reply_of(200, b'{"data": {"data": {"k": "' + canary.encode() + b'"}}}')
    assert reply.status == 200
    assert reply.body["data"]["data"]["k"] == canary
    assert canary not in repr(reply)


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"\xff\xfe", b""])
def test_a_body_that_is_not_a_json_object_is_empty(content: bytes) -> None:
    assert reply_of(502, content) == Reply(502, {})


def test_transport_causes_never_quote_the_exception() -> None:
    secret_url = "https://vault.example:8200/v1/x?token=canary-transport-5b1d"
    cases = {
        requests.exceptions.SSLError(secret_url): "TLS handshake failed; check VAULT_CACERT",
        requests.exceptions.ConnectTimeout(secret_url): "connect timed out",
        requests.exceptions.ReadTimeout(secret_url): "no answer in time",
        requests.exceptions.ConnectionError(secret_url + " Connection refused"): (
            "connection refused"
        ),
        requests.exceptions.ConnectionError(secret_url): "connection failed",
    }
    for exc, cause in cases.items():
        assert transport_cause(exc)[0] == cause
