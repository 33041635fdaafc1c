"""The helpers every store shares: the seconds parser and the key-to-field rule."""

from __future__ import annotations

import pytest

from nova_config import NovaSettings, SourceConfigError
from nova_config.sources.base import Found, LoadContext, SourceResult
from nova_config.sources.common import Claims, seconds


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
