"""Alerts to a Discord webhook: the message, the bound on time, the rate limit, and no leaks."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import stat
import string
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nova_config import alerts
from nova_config.alerts import Alert, send_alerts
from tests.support.discord import TOKEN, Answer, DiscordStandIn, RunningDiscord
from tests.support.forward_proxy import ForwardProxy
from tests.support.loopback import HOST

SETTINGS = "app.settings:Settings"
DENIED = Alert("denied", "vault", "permission denied reading secret/data/app")

# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def warnings_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog, capturing the nova_config logger from WARNING."""
    caplog.set_level(logging.WARNING, logger="nova_config")
    return caplog


def environ_for(tmp_path: Path, webhook: str, **extra: str) -> dict[str, str]:
    """Variables for one send: the webhook, a state file of the test's own, a 1 s bound."""
    return {
        "NOVA_ALERT_WEBHOOK": webhook,
        "NOVA_ALERT_STATE": str(tmp_path / "state" / f"{uuid.uuid4().hex}.json"),
        "NOVA_ALERT_TIMEOUT": "1",
        "HOME": str(tmp_path / "home"),
    } | extra


def send(environ: dict[str, str], *items: Alert, app_webhook: str | None = None) -> None:
    """send_alerts for the production load of SETTINGS."""
    send_alerts(
        items or (DENIED,),
        settings=SETTINGS,
        environment="production",
        environ=environ,
        app_webhook=app_webhook,
    )


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The nova_config records logged, as text."""
    return [r.getMessage() for r in caplog.records if r.name == "nova_config"]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- what is posted ----------------------------------------------------------------------------


def test_a_post_is_discord_json_without_mentions_naming_class_env_host_store_reason(
    discord: DiscordStandIn, tmp_path: Path
) -> None:
    environ = environ_for(tmp_path, discord.url())
    del environ["NOVA_ALERT_TIMEOUT"]  # the default bound
    send(environ, Alert("denied", "vault", "permission denied @everyone"))

    [post] = discord.posts
    assert post.path == f"/api/webhooks/123456789012345678/{TOKEN}"
    assert post.headers["Content-Type"] == "application/json"
    body = post.json()
    assert set(body) == {"content", "allowed_mentions"}
    assert body["allowed_mentions"] == {"parse": []}
    content = body["content"]
    for part in (SETTINGS, "production", socket.gethostname(), "vault", "denied"):
        assert part in content
    assert "permission denied @everyone" in content
    assert str(discord.port) not in content  # nor the webhook's address


def test_a_long_reason_is_cut_to_discord_limit(discord: DiscordStandIn, tmp_path: Path) -> None:
    send(environ_for(tmp_path, discord.url()), Alert("store_failed", "aws", "x" * 5000))
    content = discord.posts[0].json()["content"]
    assert len(content) <= 2000
    assert content.endswith("x…")


def test_app_posts_to_the_app_webhook_given(discord: DiscordStandIn, tmp_path: Path) -> None:
    send(environ_for(tmp_path, "app"), app_webhook=discord.url("AppToken0123456789abcdef"))
    assert [post.path.rsplit("/", 1)[1] for post in discord.posts] == ["AppToken0123456789abcdef"]


@pytest.mark.parametrize("webhook", [None, "", "   "])
def test_unset_or_empty_sends_nothing_even_with_an_app_webhook(
    discord: DiscordStandIn,
    tmp_path: Path,
    warnings_logged: pytest.LogCaptureFixture,
    webhook: str | None,
) -> None:
    environ = environ_for(tmp_path, webhook or "")
    if webhook is None:
        del environ["NOVA_ALERT_WEBHOOK"]
    send(environ, app_webhook=discord.url())
    assert discord.posts == []
    assert not Path(environ["NOVA_ALERT_STATE"]).exists()
    assert messages(warnings_logged) == []


def test_app_without_an_app_webhook_warns_and_sends_nothing(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    send(environ_for(tmp_path, "app"), app_webhook=None)
    assert discord.posts == []
    [message] = messages(warnings_logged)
    assert "NOVA_ALERT_WEBHOOK" in message
    assert "discord_webhook_url" in message


@pytest.mark.parametrize(
    "webhook",
    [
        "ftp://{host}/api/webhooks/1/CanaryToken0123456789",
        "{host}/api/webhooks/1/CanaryToken0123456789",
        "http:///api/webhooks/1/CanaryToken0123456789",
        "http://{host}:port/api/webhooks/1/CanaryToken0123456789",
        "http://{host}/api/webhooks/1/CanaryToken0123456789 with space",
        "javascript:CanaryToken0123456789",
    ],
)
def test_a_value_neither_url_nor_app_warns_once_without_it_and_sends_nothing(
    discord: DiscordStandIn,
    tmp_path: Path,
    warnings_logged: pytest.LogCaptureFixture,
    webhook: str,
) -> None:
    environ = environ_for(tmp_path, webhook.format(host=f"{HOST}:{discord.port}"))
    send(environ, DENIED, Alert("store_failed", "aws", "timed out"))
    assert discord.posts == []
    [message] = messages(warnings_logged)
    assert "NOVA_ALERT_WEBHOOK" in message
    assert "CanaryToken" not in message


def test_the_endpoint_repr_names_host_and_port_only() -> None:
    endpoint = alerts._Endpoint("https://discord.com/api/webhooks/1/CanaryToken0123456789")
    assert repr(endpoint) == "_Endpoint(discord.com:443)"


# --- bounded time and failures -----------------------------------------------------------------


def test_429_with_a_retry_after_that_fits_is_retried_once_and_delivered(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    discord.script = [Answer(429, retry_after=0.2)]
    send(environ_for(tmp_path, discord.url()))
    assert len(discord.posts) == 2
    assert messages(warnings_logged) == []


def test_429_with_only_a_retry_after_header_is_retried(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    discord.script = [Answer(429, header="0.2")]
    send(environ_for(tmp_path, discord.url()))
    assert len(discord.posts) == 2
    assert messages(warnings_logged) == []


def test_429_twice_is_not_retried_a_second_time(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    discord.script = [Answer(429, retry_after=0.1), Answer(429, retry_after=0.1)]
    send(environ_for(tmp_path, discord.url(), NOVA_ALERT_TIMEOUT="3"))
    assert len(discord.posts) == 2
    [message] = messages(warnings_logged)
    assert "HTTP 429" in message


def test_429_with_a_retry_after_beyond_the_bound_is_not_retried_and_logged(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    discord.script = [Answer(429, retry_after=30)]
    send(environ_for(tmp_path, discord.url()))
    assert len(discord.posts) == 1
    [message] = messages(warnings_logged)
    assert "429" in message
    assert f"{HOST}:{discord.port}" in message


def test_a_server_error_is_logged_with_host_and_port_only(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    discord.script = [Answer(500)]
    send(environ_for(tmp_path, discord.url()))
    assert len(discord.posts) == 1
    [message] = messages(warnings_logged)
    assert "HTTP 500" in message
    assert f"{HOST}:{discord.port}" in message
    assert "/api/webhooks" not in message


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_an_endpoint_that_never_answers_is_given_up_at_the_bound(
    discord: DiscordStandIn,
    tmp_path: Path,
    warnings_logged: pytest.LogCaptureFixture,
    mode: Literal["hang", "trickle"],
) -> None:
    """Three alerts share the one bound: the call ends within it (+1 s), not three times it."""
    discord.script = [Answer(mode=mode)] * 3
    started = time.monotonic()
    send(
        environ_for(tmp_path, discord.url()),
        DENIED,
        Alert("store_failed", "aws", "timed out"),
        Alert("dotenv_in_production", "dotenv", ".env read"),
    )
    assert time.monotonic() - started < 1 + 1
    assert len(discord.posts) >= 1
    logged = messages(warnings_logged)
    assert len(logged) == 3
    assert all(f"{HOST}:{discord.port}" in message for message in logged)


def test_an_endpoint_that_never_accepts_is_given_up_at_the_bound(
    tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)  # the kernel queues the connection; accept() is never called
        port = listener.getsockname()[1]
        started = time.monotonic()
        send(environ_for(tmp_path, f"http://{HOST}:{port}/api/webhooks/1/Token0123456789abcd"))
        assert time.monotonic() - started < 1 + 1
    [message] = messages(warnings_logged)
    assert f"{HOST}:{port}" in message


def test_an_unreachable_endpoint_is_logged_and_does_not_raise(
    tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    send(environ_for(tmp_path, f"http://{HOST}:{port}/api/webhooks/1/Token0123456789abcd"))
    [message] = messages(warnings_logged)
    assert "refused" in message
    assert f"{HOST}:{port}" in message
    assert "Token0123456789abcd" not in message


@pytest.mark.parametrize("timeout", ["abc", "0", "-1", "nan", "inf"])
def test_a_bad_timeout_warns_and_uses_the_default(
    discord: DiscordStandIn,
    tmp_path: Path,
    warnings_logged: pytest.LogCaptureFixture,
    timeout: str,
) -> None:
    send(environ_for(tmp_path, discord.url(), NOVA_ALERT_TIMEOUT=timeout))
    assert len(discord.posts) == 1
    [message] = messages(warnings_logged)
    assert "NOVA_ALERT_TIMEOUT" in message
    assert timeout not in message.replace("NOVA_ALERT_TIMEOUT", "")


# --- rate limit ----------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from nova_config import alert_state, alerts
    kind, environment, start = sys.argv[1], sys.argv[2], float(sys.argv[3])

    # A slow read widens read-check-update: without the lock, every child would read no sends.
    read_state = alert_state.read_state
    def slow_read_state(fd):
        state = read_state(fd)
        time.sleep(0.2)
        return state
    alert_state.read_state = slow_read_state

    while time.time() < start:  # every child starts at the same moment
        time.sleep(0.001)
    alerts.send_alerts([alerts.Alert(kind, "vault", "permission denied")],
                       settings="app.settings:Settings", environment=environment,
                       environ=os.environ)
    """
)


def run_children(environ: dict[str, str], kind: str, environment: str, count: int = 1) -> None:
    """`count` processes at once, each sending one alert; none of them logs anything."""
    start = time.time() + (2.0 if count > 1 else 0.0)  # after every child has imported
    argv = [sys.executable, "-c", CHILD, kind, environment, repr(start)]
    env = os.environ | environ | {"NOVA_ALERT_TIMEOUT": "5"}

    def run(_: int) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(run, range(count)))
    for result in results:
        assert result.returncode == 0, result.stderr.decode()
        assert result.stderr == b""


def test_one_post_per_kind_store_environment_across_processes_until_the_window_ends(
    discord: DiscordStandIn, tmp_path: Path
) -> None:
    environ = environ_for(tmp_path, discord.url())
    run_children(environ, "denied", "production", count=5)
    assert len(discord.posts) == 1

    run_children(environ, "store_failed", "production")
    run_children(environ, "denied", "staging")
    assert len(discord.posts) == 3
    run_children(environ, "denied", "production")
    assert len(discord.posts) == 3

    state = Path(environ["NOVA_ALERT_STATE"])
    recorded = json.loads(state.read_text())
    recorded["sent"] = {key: at - 601 for key, at in recorded["sent"].items()}
    state.write_text(json.dumps(recorded))
    run_children(environ, "denied", "production")
    assert len(discord.posts) == 4


def test_the_same_alert_twice_in_one_call_is_posted_once(
    discord: DiscordStandIn, tmp_path: Path
) -> None:
    send(environ_for(tmp_path, discord.url()), DENIED, DENIED._replace(reason="again"))
    assert len(discord.posts) == 1


@pytest.mark.parametrize("xdg", [False, True])
def test_the_state_folder_is_0700_and_the_file_0600(
    discord: DiscordStandIn, tmp_path: Path, xdg: bool
) -> None:
    environ = environ_for(tmp_path, discord.url())
    del environ["NOVA_ALERT_STATE"]
    folder = tmp_path / "home" / ".local" / "state" / "nova-config"
    if xdg:
        environ["XDG_STATE_HOME"] = str(tmp_path / "xdg")
        folder = tmp_path / "xdg" / "nova-config"
    umask = os.umask(0o022)  # what mkdir and open would use without explicit modes
    try:
        send(environ)
    finally:
        os.umask(umask)
    assert len(discord.posts) == 1
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "alerts.json").stat().st_mode) == 0o600


def test_a_corrupt_state_file_counts_as_empty_and_is_rewritten(
    discord: DiscordStandIn, tmp_path: Path
) -> None:
    environ = environ_for(tmp_path, discord.url())
    state = Path(environ["NOVA_ALERT_STATE"])
    state.parent.mkdir(parents=True)
    state.write_bytes(b'{"sent": {"x": "\xff')
    send(environ)
    assert len(discord.posts) == 1
    [key] = json.loads(state.read_text())["sent"]
    assert key.endswith("|denied|vault|production")


def test_an_unwritable_state_warns_and_still_sends(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("")
    environ = environ_for(tmp_path, discord.url(), NOVA_ALERT_STATE=str(tmp_path / "a-file" / "s"))
    send(environ)
    assert len(discord.posts) == 1
    [message] = messages(warnings_logged)
    assert "rate limit" in message


# --- no leaks ----------------------------------------------------------------------------------

TOKENS = st.text(string.ascii_letters + string.digits + "-_", min_size=16, max_size=68)
# Words without the token's characters, so that what is posted of them is checked exactly.
WORDS = st.text(
    st.characters(exclude_categories=["Cs", "Nd"], exclude_characters=string.ascii_letters + "-_"),
    max_size=40,
)


class Case(NamedTuple):
    """One example: the token in the URL, the reason's words around the URL, how it is set."""

    token: str
    before: str
    after: str
    use_app: bool  # NOVA_ALERT_WEBHOOK=app and the URL in app_webhook, or the URL itself
    in_query: bool  # a relay's key in the query instead of Discord's token in the path
    status: int  # what the endpoint answers: 500 makes a warning that names it


CASES = st.builds(
    Case, TOKENS, WORDS, WORDS, st.booleans(), st.booleans(), st.sampled_from([204, 500])
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=CASES)
def test_the_webhook_url_never_shows_in_logs_or_content(
    discord: DiscordStandIn,
    tmp_path: Path,
    warnings_logged: pytest.LogCaptureFixture,
    case: Case,
) -> None:
    """A canary token in NOVA_ALERT_WEBHOOK or app_webhook: not logged, not posted, even when
    the reason carries the URL; the rest of the reason is posted."""
    warnings_logged.clear()
    discord.posts.clear()
    discord.script = [Answer(case.status)]
    canary = f"Canary{case.token}"
    url = discord.url(canary)
    if case.in_query:
        url = f"http://{HOST}:{discord.port}/relay?key={canary}"
    environ = environ_for(tmp_path, "app" if case.use_app else url)
    reason = f"{case.before}<{url}>{case.after}"
    send(environ, Alert("denied", "vault", reason), app_webhook=url)

    [post] = discord.posts
    assert post.path.endswith(canary)  # the canary was there to leak
    content = post.json()["content"]
    assert canary not in content
    assert url not in content
    assert f"{case.before}<" in content
    assert f">{case.after}" in content
    logged = messages(warnings_logged)
    assert len(logged) == (case.status != 204)
    assert not any(canary in message for message in logged)
    assert canary not in Path(environ["NOVA_ALERT_STATE"]).read_text()


# --- through an HTTP proxy ---------------------------------------------------------------------

PROXY_PASSWORD = "proxy-canary-3f7a"


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    started = ForwardProxy()
    yield started
    started.stop()


@pytest.fixture
def tls_discord(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningDiscord]:
    """A Discord stand-in over https, its certificate trusted through OpenSSL's SSL_CERT_FILE
    (which the alerts' default TLS context reads)."""
    running = RunningDiscord(tls=True)
    assert running.ca_path is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(running.ca_path))
    yield running
    running.stop()


def test_an_https_webhook_is_reached_through_https_proxy_by_connect_never_showing_its_path(
    tls_discord: RunningDiscord, proxy: ForwardProxy, tmp_path: Path
) -> None:
    environ = environ_for(tmp_path, tls_discord.url(), HTTPS_PROXY=proxy.url)
    send(environ)
    assert len(tls_discord.server.posts) == 1
    assert [(method, target) for method, target, _ in proxy.seen] == [
        ("CONNECT", f"{HOST}:{tls_discord.server.port}")
    ]
    assert TOKEN not in repr(proxy.seen)  # the proxy saw the host and port, not the path


def test_a_plain_http_webhook_is_asked_of_http_proxy_in_absolute_form(
    discord: DiscordStandIn, proxy: ForwardProxy, tmp_path: Path
) -> None:
    send(environ_for(tmp_path, discord.url(), http_proxy=proxy.url))
    assert len(discord.posts) == 1
    assert [(method, target) for method, target, _ in proxy.seen] == [("POST", discord.url())]


def test_no_proxy_naming_the_webhook_host_posts_directly(
    discord: DiscordStandIn, proxy: ForwardProxy, tmp_path: Path
) -> None:
    send(environ_for(tmp_path, discord.url(), HTTP_PROXY=proxy.url, NO_PROXY=HOST))
    assert len(discord.posts) == 1
    assert proxy.seen == []


@pytest.mark.parametrize("given", [PROXY_PASSWORD, "wrong-password"])
def test_the_proxy_password_goes_as_proxy_authorization_and_a_refusal_is_named(
    tls_discord: RunningDiscord,
    tmp_path: Path,
    warnings_logged: pytest.LogCaptureFixture,
    given: str,
) -> None:
    proxy = ForwardProxy(password=PROXY_PASSWORD)
    try:
        address = proxy.url.replace("http://", f"http://nova:{given}@")
        send(environ_for(tmp_path, tls_discord.url(), HTTPS_PROXY=address))
    finally:
        proxy.stop()
    logged = messages(warnings_logged)
    authorizations = [headers.get("Proxy-Authorization") for _, _, headers in proxy.seen]
    assert authorizations == ["Basic " + base64.b64encode(f"nova:{given}".encode()).decode()]
    if given == PROXY_PASSWORD:
        assert len(tls_discord.server.posts) == 1
        assert logged == []
    else:
        assert tls_discord.server.posts == []
        shown = proxy.url.removeprefix("http://")
        assert len(logged) == 1
        assert logged[0].endswith(
            f" through the proxy {shown}: the proxy refused the connection (HTTP 407)"
        )
    assert given not in " ".join(logged)


def test_a_proxy_that_never_answers_is_bounded_by_the_alert_timeout(
    tls_discord: RunningDiscord,
    proxy: ForwardProxy,
    tmp_path: Path,
    warnings_logged: pytest.LogCaptureFixture,
) -> None:
    proxy.hang()
    started = time.monotonic()
    send(environ_for(tmp_path, tls_discord.url(), HTTPS_PROXY=proxy.url))
    assert time.monotonic() - started < 1 + 2.0  # NOVA_ALERT_TIMEOUT=1: a bound, not a timing
    assert tls_discord.server.posts == []
    assert messages(warnings_logged)[0].endswith("no answer within NOVA_ALERT_TIMEOUT")


def test_a_proxy_variable_that_is_not_an_http_address_is_named_and_nothing_is_sent(
    discord: DiscordStandIn, tmp_path: Path, warnings_logged: pytest.LogCaptureFixture
) -> None:
    send(environ_for(tmp_path, discord.url(), HTTP_PROXY="socks5://nova:pw-canary@proxy:1080"))
    assert discord.posts == []
    (logged,) = messages(warnings_logged)
    assert logged.endswith(
        ": HTTP_PROXY is not an http:// proxy address (only those are supported)"
    )
    assert "pw-canary" not in logged
