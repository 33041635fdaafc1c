"""The proxy alerts go through: the variables as requests reads them, NO_PROXY as curl does."""

from __future__ import annotations

import base64

import pytest

from nova_config.alert_proxy import Proxy, bypassed, proxy_for


@pytest.mark.parametrize(
    ("host", "no_proxy", "expected"),
    [
        ("discord.com", "*", True),
        ("discord.com", "discord.com", True),
        ("discord.com", "DISCORD.COM", True),
        ("api.discord.com", "discord.com", True),
        ("api.discord.com", ".discord.com", True),
        ("notdiscord.com", "discord.com", False),
        ("discord.com", "example.org, discord.com:443", True),
        ("discord.com", "example.org", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("10.1.2.3", "10.1.2.3", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("::1", "::1", True),
        ("[::1]", "::1/128", True),
        ("127.0.0.1", "localhost", False),
        ("discord.com", "", False),
    ],
)
def test_no_proxy_matches_hosts_domains_on_label_boundaries_and_ranges(
    host: str, no_proxy: str, expected: bool
) -> None:
    assert bypassed(host, no_proxy) is expected


def test_the_schemes_own_variable_then_all_proxy_lower_case_first() -> None:
    environ = {
        "HTTPS_PROXY": "http://upper:3128",
        "https_proxy": "http://lower:3128",
        "ALL_PROXY": "http://all:3128",
        "http_proxy": "http://plain:8080",
    }
    assert proxy_for(True, "discord.com", environ) == Proxy("lower", 3128, None, "lower:3128")
    assert proxy_for(False, "discord.com", environ) == Proxy("plain", 8080, None, "plain:8080")
    assert proxy_for(True, "discord.com", {"ALL_PROXY": "all:3128"}) == Proxy(
        "all", 3128, None, "all:3128"
    )
    assert proxy_for(True, "discord.com", {}) is None


def test_no_proxy_naming_the_host_means_no_proxy() -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": ".discord.com"}
    assert proxy_for(True, "api.discord.com", environ) is None
    assert proxy_for(True, "example.org", environ) == Proxy("proxy", 3128, None, "proxy:3128")


def test_a_user_and_password_go_as_proxy_authorization_and_are_never_shown() -> None:
    proxy = proxy_for(True, "discord.com", {"HTTPS_PROXY": "http://nova:pw%3Acanary-6e1@p:3128"})
    assert isinstance(proxy, Proxy)
    assert proxy.authorization == "Basic " + base64.b64encode(b"nova:pw:canary-6e1").decode()
    assert "canary" not in repr(proxy)
    assert "canary" not in proxy.shown


@pytest.mark.parametrize(
    "value",
    ["https://proxy:3128", "socks5://proxy:1080", "http://proxy:notaport", "http://:3128"],
)
def test_a_proxy_that_is_not_an_http_address_is_named_and_not_quoted(value: str) -> None:
    reason = proxy_for(True, "discord.com", {"HTTPS_PROXY": value})
    assert reason == "HTTPS_PROXY is not an http:// proxy address (only those are supported)"
