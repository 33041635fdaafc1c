"""The helpers every store shares: seconds and flag parsers, URL cutter, key rule, client cache."""

from __future__ import annotations

import os

import pytest

from nova_config import NovaSettings, SourceConfigError
from nova_config.sources.base import Found, LoadContext, SourceResult
from nova_config.sources.common import Claims, ClientCache, flag, seconds, shown_url


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "0", "-1", "abc", ""])
def test_seconds_refuses_what_is_no_duration(raw: str) -> None:
    """nan, infinities, zero, negatives and text are refused, naming the variable."""
    with pytest.raises(SourceConfigError, match="NOVA_X_TIMEOUT must be a positive number"):
        seconds({"NOVA_X_TIMEOUT": raw}, "NOVA_X_TIMEOUT", 3.0)


def test_seconds_reads_a_number_or_gives_the_default() -> None:
    """A finite positive number is read as given; an unset variable gives the default."""
    assert seconds({"T": "0.25"}, "T", 3.0) == 0.25
    assert seconds({}, "T", 3.0) == 3.0


def claims() -> tuple[Claims, SourceResult]:
    result = SourceResult()
    context = LoadContext("development", {}, NovaSettings.__nova_plans__)
    return Claims(context.plans_by_key(), result), result


def test_a_matching_entry_claims_its_field_in_any_case_and_spelling() -> None:
    """Names match case-insensitively with - and _ alike, aliases included."""
    rule, result = claims()
    plan = rule.claim("Alpaca-API-Key", "here", "{earlier} {where} {variable}")
    assert plan is not None
    assert plan.name == "alpaca_api_key"
    db_password = rule.claim("db_password", "there", "{earlier} {where} {variable}")
    assert db_password is not None
    assert db_password.name == "timescale_password"
    assert rule.claim("unrelated", "x", "{earlier}") is None
    assert result.problems == []


def test_a_second_entry_for_one_field_is_a_problem_never_a_pick() -> None:
    """Two entries for one field in one place: a problem worded by the caller, neither read."""
    rule, result = claims()
    assert rule.claim("alpaca_api_key", "a", "{earlier} and {where} both hold {variable}")
    assert rule.claim("ALPACA_API_KEY", "b", "{earlier} and {where} both hold {variable}") is None
    (problem,) = result.problems
    assert problem == ("ALPACA_API_KEY", "a and b both hold ALPACA_API_KEY", "source")
    assert rule.claim("alpaca-api-key", "c", lambda e, w, v: f"{v}: {e}/{w}") is None
    assert result.problems[1].message == "ALPACA_API_KEY: a/c"


def test_a_field_an_earlier_place_answered_is_claimed_but_not_read_again() -> None:
    """The higher-priority place keeps the field: the entry claims it but is not to be read."""
    rule, result = claims()
    result.found["alpaca_api_key"] = Found("AKEARLIER", "earlier place")
    assert rule.claim("alpaca_api_key", "later", "{earlier}") is None
    assert rule.claim("ALPACA_API_KEY", "later again", "{earlier} and {where}") is None
    assert result.problems[0].message == "later and later again"


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "on", "On"])
def test_flag_yes(raw: str) -> None:
    """1, true, yes and on are yes, in any case, spaces around ignored."""
    assert flag({"NOVA_X": raw}, "NOVA_X") is True


@pytest.mark.parametrize("raw", ["", "0", "false", "No", "off", " OFF "])
def test_flag_no(raw: str) -> None:
    """Empty, 0, false, no and off are no; so is an unset variable."""
    assert flag({"NOVA_X": raw}, "NOVA_X") is False
    assert flag({}, "NOVA_X") is False


@pytest.mark.parametrize("raw", ["2", "ture", "y", "enabled", "canary-flag-8c1f"])
def test_flag_refuses_other_words_without_showing_them(raw: str) -> None:
    """Anything else is a configuration error naming the variable, never the value."""
    with pytest.raises(SourceConfigError, match="NOVA_X must be 1, true, yes or on") as info:
        flag({"NOVA_X": raw}, "NOVA_X")
    assert raw not in str(info.value).replace("1, true, yes or on (or 0, false, no, off)", "")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://vault.example:8200", "https://vault.example:8200"),
        ("https://user:pw-canary@vault.example:8200/v1", "https://vault.example:8200/v1"),
        ("http://127.0.0.1:4566/?token=canary#frag-canary", "http://127.0.0.1:4566/"),
        ("https://host.example?X-Amz-Security-Token=canary", "https://host.example"),
        ("https://a@b@host.example/p#x", "https://host.example/p"),
        ("user:canary@host.example:8200", "host.example:8200"),  # no scheme: cut all the same
        ("https://[::1:8200/path?q=canary", "https://[::1:8200/path"),  # does not parse
    ],
)
def test_shown_url_keeps_no_credential(url: str, shown: str) -> None:
    """Scheme, host, port and path are kept; userinfo, query and fragment never are."""
    assert shown_url(url) == shown
    assert "canary" not in shown_url(url)


class _Client:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False


def _closing_cache(size: int) -> ClientCache[str, _Client]:
    def close(client: _Client) -> None:
        client.closed = True

    return ClientCache(size, close)


def test_client_cache_evicts_the_least_recently_used_and_closes_it() -> None:
    cache = _closing_cache(2)
    a, b, c = _Client("a"), _Client("b"), _Client("c")
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # now the most recently used
    cache.put("c", c)
    assert cache.values() == [a, c]
    assert b.closed
    assert not a.closed
    assert not c.closed
    assert cache.get("b") is None


def test_client_cache_replacing_or_discarding() -> None:
    """A replaced client is not closed (a renewed login keeps its client); a discarded one is,
    and only the one still kept is forgotten."""
    cache = _closing_cache(4)
    first, second = _Client("1"), _Client("2")
    cache.put("k", first)
    cache.put("k", second)
    assert not first.closed
    cache.discard("k", first)  # no longer the one kept: closed, but the kept one stays
    assert first.closed
    assert cache.get("k") is second
    cache.discard("k", second)
    assert second.closed
    assert len(cache) == 0


def test_client_cache_clear_closes_all_and_repr_shows_a_count() -> None:
    cache = _closing_cache(4)
    clients = [_Client(str(n)) for n in range(3)]
    for n, client in enumerate(clients):
        cache.put(f"digest-canary-{n}", client)
    assert repr(cache) == "ClientCache(3 of 4)"
    cache.clear()
    assert all(client.closed for client in clients)
    assert len(cache) == 0


def test_client_cache_one_lock_per_key() -> None:
    cache = _closing_cache(4)
    assert cache.lock_for("a") is cache.lock_for("a")
    assert cache.lock_for("a") is not cache.lock_for("b")


def test_client_cache_is_empty_in_a_forked_child() -> None:
    """A forked child keeps none of the parent's clients, closes none, and has new locks."""
    cache = _closing_cache(4)
    parent = _Client("parent")
    cache.put("k", parent)
    held = cache.lock_for("k")
    held.acquire()  # held at the fork: the child must not inherit it held
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, without pytest's teardown
        state = f"{len(cache)} {parent.closed} {cache.lock_for('k').acquire(timeout=1)}"
        os.write(write, state.encode())
        os._exit(0)
    held.release()
    os.close(write)
    with os.fdopen(read) as pipe:
        reported = pipe.read()
    os.waitpid(pid, 0)
    assert reported == "0 False True"
    assert cache.get("k") is parent
