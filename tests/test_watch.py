"""Live reload: reload(), and the watcher against real stores (OpenBao, moto, files, .env)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nova_config import NovaSettings, SettingsError
from nova_config.live import LiveSettings, watch
from nova_config.reload import changed_fields
from nova_config.sources import aws
from tests.support.data import VALID, VAULT_SECRETS, WEBHOOK
from tests.support.helpers import use_new_aws_secret
from tests.support.moto import Forwarder, MotoServer
from tests.support.openbao import OpenBao
from tests.support.watching import (
    dotenv_text,
    replace_file,
    wait_until,
    write_volume,
)

pytestmark = pytest.mark.usefixtures("fresh_logins")

INTERVAL = 0.2
SEEN = 10.0  # a generous bound on "within two intervals": never a timing assertion
CANARY = "watch-canary-3f9a1c"


class Changes:
    """What on_change was given, in order: (old, new, changed) per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[NovaSettings, NovaSettings, frozenset[str]]] = []

    def __call__(self, old: NovaSettings, new: NovaSettings, changed: frozenset[str]) -> None:
        self.calls.append((old, new, changed))

    def fields(self) -> list[frozenset[str]]:
        return [changed for _, _, changed in self.calls]


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def live_watchers() -> Iterator[list[LiveSettings[Any]]]:
    """Watchers a test started, stopped after it whatever happened."""
    started: list[LiveSettings[Any]] = []
    yield started
    for live in started:
        live.stop()


def start(
    started: list[LiveSettings[Any]], changes: Changes | None = None, **options: Any
) -> LiveSettings[NovaSettings]:
    live = watch(
        NovaSettings, interval=options.pop("interval", INTERVAL), on_change=changes, **options
    )
    started.append(live)
    return live


def password(live: LiveSettings[NovaSettings]) -> str:
    return live.current.timescale_password.get_secret_value()


@pytest.fixture
def aws_clients() -> Iterator[None]:
    """The cached Secrets Manager clients closed after the test (list it before the watchers)."""
    yield
    aws.close_clients()


@pytest.fixture
def dotenv(tmp_path: Path) -> Path:
    """A .env holding the valid secrets (the working folder's, read in development)."""
    path = tmp_path / ".env"
    replace_file(path, dotenv_text(VALID))
    return path


@pytest.fixture
def audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(path))
    return path


def audit_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- reload() ------------------------------------------------------------------------------------


def test_reload_returns_a_new_equal_instance_from_the_same_sources(dotenv: Path) -> None:
    """Same values and provenance, a new object; keyword arguments are given again."""
    settings = NovaSettings(alpaca_api_key="AKGIVENINCODE0001")
    again = settings.reload()
    assert again is not settings
    assert again == settings
    assert type(again) is NovaSettings
    assert again.resolution.provenance == settings.resolution.provenance
    assert again.source_of("alpaca_api_key").source == "init"
    assert again.alpaca_api_key.get_secret_value() == "AKGIVENINCODE0001"
    assert changed_fields(settings, again) == frozenset()


def test_reload_keeps_the_environment_given_in_code(valid_env: dict[str, str]) -> None:
    settings = NovaSettings(environment="test")
    assert settings.reload().environment == "test"


def test_reload_keeps_env_file_none(dotenv: Path, valid_env: dict[str, str]) -> None:
    """`_env_file=None` is given again: the reloaded load does not read `.env` either."""
    replace_file(dotenv, dotenv_text(VALID | {"ALPACA_SECRET_KEY": "alpaca-from-dotenv-51ab"}))
    settings = NovaSettings(_env_file=None)
    again = settings.reload()
    assert settings.alpaca_secret_key is None
    assert again.alpaca_secret_key is None  # the key only `.env` holds: still not read
    assert again.resolution.skipped["dotenv"] == settings.resolution.skipped["dotenv"]
    assert NovaSettings().alpaca_secret_key is not None  # `.env` does hold it


def test_reload_reads_the_stores_again_and_fails_as_construction_does(dotenv: Path) -> None:
    settings = NovaSettings()
    replace_file(dotenv, dotenv_text(VALID | {"TIMESCALE_PASSWORD": "pw-rotated-2"}))
    assert settings.reload().timescale_password.get_secret_value() == "pw-rotated-2"
    replace_file(dotenv, dotenv_text({"DISCORD_WEBHOOK_URL": WEBHOOK}))
    with pytest.raises(SettingsError, match="TIMESCALE_PASSWORD is missing"):
        settings.reload()


def test_changed_fields_names_the_fields_whose_values_differ(dotenv: Path) -> None:
    before = NovaSettings()
    after = NovaSettings(timescale_port=6543, alpaca_secret_key="new-secret")
    assert changed_fields(before, after) == {"timescale_port", "alpaca_secret_key"}


# --- each store, seen within two intervals ----------------------------------------------------


def test_a_vault_write_is_seen_with_the_changed_field(
    at_vault: OpenBao, base: str, changes: Changes, live_watchers: list[LiveSettings[Any]]
) -> None:
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    live = start(live_watchers, changes)
    first = live.current
    version = at_vault.write_kv2(
        f"{base}/development", VAULT_SECRETS | {"timescale_password": "pw-from-vault-2"}
    )
    assert wait_until(lambda: changes.calls, SEEN)
    assert changes.fields() == [frozenset({"timescale_password"})]
    old, new, _ = changes.calls[0]
    assert old is first
    assert new is live.current
    assert password(live) == "pw-from-vault-2"
    assert live.current.source_of("timescale_password").version == str(version)


def test_an_aws_put_secret_value_is_seen_with_the_changed_field(
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: None,
    changes: Changes,
    live_watchers: list[LiveSettings[Any]],
) -> None:
    name = use_new_aws_secret(moto_server, monkeypatch, "nova-watch", VAULT_SECRETS)
    admin = moto_server.secrets()
    live = start(live_watchers, changes)
    assert live.current.source_of("alpaca_api_key").source == "aws"
    admin.put_secret_value(
        SecretId=name, SecretString=json.dumps(VAULT_SECRETS | {"alpaca_api_key": "AKAWS2"})
    )
    assert wait_until(lambda: changes.calls, SEEN)
    assert changes.fields() == [frozenset({"alpaca_api_key"})]
    assert live.current.alpaca_api_key.get_secret_value() == "AKAWS2"


def test_a_kubernetes_data_swap_is_seen_with_the_changed_field(
    secrets_dir: Path,
    valid_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    changes: Changes,
    live_watchers: list[LiveSettings[Any]],
) -> None:
    monkeypatch.delenv("TIMESCALE_PASSWORD")
    write_volume(secrets_dir, {"timescale_password": "pw-volume-1"})
    live = start(live_watchers, changes)
    assert password(live) == "pw-volume-1"
    assert live.current.source_of("timescale_password").location == str(
        secrets_dir / "timescale_password"
    )
    write_volume(secrets_dir, {"timescale_password": "pw-volume-2"})
    assert wait_until(lambda: changes.calls, SEEN)
    assert changes.fields() == [frozenset({"timescale_password"})]
    assert password(live) == "pw-volume-2"


def test_a_dotenv_edit_is_seen_with_the_changed_fields(
    dotenv: Path, changes: Changes, live_watchers: list[LiveSettings[Any]]
) -> None:
    live = start(live_watchers, changes)
    replace_file(
        dotenv, dotenv_text(VALID | {"TIMESCALE_PASSWORD": "pw-2", "TIMESCALE_PORT": "6000"})
    )
    assert wait_until(lambda: changes.calls, SEEN)
    assert changes.fields() == [frozenset({"timescale_password", "timescale_port"})]
    assert password(live) == "pw-2"
    assert live.current.timescale_port == 6000


# --- failures --------------------------------------------------------------------------------


def test_an_invalid_new_value_keeps_the_old_instance_and_is_retried(
    dotenv: Path,
    audit_log: Path,
    caplog: pytest.LogCaptureFixture,
    changes: Changes,
    live_watchers: list[LiveSettings[Any]],
) -> None:
    """reload_failed is written (again on each retry), no value is logged, then a fix is taken."""
    log = audit_log
    caplog.set_level(logging.WARNING, logger="nova_config")
    live = start(live_watchers, changes)
    first = live.current
    replace_file(
        dotenv, dotenv_text(VALID | {"DISCORD_WEBHOOK_URL": f"https://example.com/{CANARY}"})
    )

    def failures() -> int:
        return sum(e["event"] == "reload_failed" for e in audit_events(log))

    assert wait_until(lambda: failures() >= 2, SEEN)  # the first, then a retry with no new write
    assert live.current is first
    assert isinstance(live.last_error, SettingsError)
    assert "DISCORD_WEBHOOK_URL" in str(live.last_error)
    assert changes.calls == []
    assert "reload failed" in caplog.text
    replace_file(dotenv, dotenv_text(VALID | {"TIMESCALE_PASSWORD": "pw-fixed"}))
    assert wait_until(lambda: changes.calls, SEEN)
    assert changes.fields() == [frozenset({"timescale_password"})]
    assert live.last_error is None
    reloaded = [e for e in audit_events(log) if e["event"] == "settings_reloaded"]
    assert reloaded[-1]["changed"] == ["timescale_password"]
    assert {"time", "settings", "environment", "host", "pid", "load_id"} <= set(reloaded[-1])
    for text in (caplog.text, log.read_text(encoding="utf-8")):
        assert CANARY not in text
        assert "pw-fixed" not in text


def test_the_retry_backs_off_doubling_up_to_the_interval_and_jitter_spreads_polls(
    dotenv: Path, live_watchers: list[LiveSettings[Any]]
) -> None:
    steady = start(live_watchers, interval=8.0, jitter=0.0)
    assert [steady._delay(n) for n in range(6)] == [8.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    spread = start(live_watchers, interval=10.0, jitter=0.1)
    delays = {spread._delay(0) for _ in range(50)}
    assert all(9.0 <= d <= 11.0 for d in delays)
    assert len(delays) > 1


def test_a_callback_exception_is_logged_and_the_watcher_keeps_going(
    dotenv: Path, caplog: pytest.LogCaptureFixture, live_watchers: list[LiveSettings[Any]]
) -> None:
    calls: list[frozenset[str]] = []

    def broken(old: NovaSettings, new: NovaSettings, changed: frozenset[str]) -> None:
        calls.append(changed)
        raise RuntimeError(f"callback failed with {CANARY}")

    caplog.set_level(logging.ERROR, logger="nova_config")
    live = watch(NovaSettings, interval=INTERVAL, on_change=broken)
    live_watchers.append(live)
    replace_file(dotenv, dotenv_text(VALID | {"TIMESCALE_PASSWORD": "pw-2"}))
    assert wait_until(lambda: len(calls) == 1, SEEN)
    replace_file(dotenv, dotenv_text(VALID | {"TIMESCALE_PASSWORD": "pw-3"}))
    assert wait_until(lambda: len(calls) == 2, SEEN)
    assert live.running
    assert password(live) == "pw-3"
    assert "on_change raised RuntimeError" in caplog.text
    assert CANARY not in caplog.text


def test_the_first_load_fails_as_construction_does(live_watchers: list[LiveSettings[Any]]) -> None:
    with pytest.raises(SettingsError, match="DISCORD_WEBHOOK_URL is missing"):
        start(live_watchers)
    assert not [t for t in threading.enumerate() if t.name.startswith("nova-config-watch")]


# --- generations, signals, stop ----------------------------------------------------------------


def test_readers_never_see_a_mixed_generation_during_200_swaps(
    dotenv: Path, live_watchers: list[LiveSettings[Any]]
) -> None:
    """Two fields written together always agree, and a reader's generations never go back."""

    def values(n: int) -> dict[str, str]:
        return VALID | {"TIMESCALE_PASSWORD": f"pw-{n}", "ALPACA_API_KEY": f"AK{n}"}

    replace_file(dotenv, dotenv_text(values(0)))
    live = start(live_watchers, interval=3600.0)
    done = threading.Event()
    problems: list[str] = []
    reads = [0] * 8

    def reader(index: int) -> None:
        latest = 0
        while not done.is_set():
            settings = live.current
            n = int(settings.timescale_password.get_secret_value().removeprefix("pw-"))
            if settings.alpaca_api_key.get_secret_value() != f"AK{n}":
                problems.append(f"generation {n} mixed")
            if n < latest:
                problems.append(f"generation {n} after {latest}")
            latest = n
            reads[index] += 1
            time.sleep(0)  # lets the swapping thread run between reads

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for thread in readers:
        thread.start()
    try:
        swaps = 0
        for n in range(1, 201):
            replace_file(dotenv, dotenv_text(values(n)))
            swaps += live.refresh()
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert swaps == 200
    assert password(live) == "pw-200"
    assert problems == []
    assert min(reads) > 0


def test_sighup_triggers_a_check(
    dotenv: Path, changes: Changes, live_watchers: list[LiveSettings[Any]]
) -> None:
    before = signal.getsignal(signal.SIGHUP)
    live = start(live_watchers, changes, interval=3600.0, reload_signal=signal.SIGHUP)
    replace_file(dotenv, dotenv_text(VALID | {"TIMESCALE_PASSWORD": "pw-hup"}))
    os.kill(os.getpid(), signal.SIGHUP)
    assert wait_until(lambda: changes.calls, SEEN)
    assert password(live) == "pw-hup"
    live.stop()
    assert signal.getsignal(signal.SIGHUP) == before


def test_reload_signal_outside_the_main_thread_is_refused_clearly(dotenv: Path) -> None:
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            watch(NovaSettings, reload_signal=signal.SIGHUP).stop()
        except ValueError as exc:
            errors.append(exc)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert "main thread" in str(errors[0])


def test_stop_ends_the_thread_and_the_context_manager_stops(dotenv: Path) -> None:
    live = watch(NovaSettings, interval=3600.0)
    assert live.running
    live.stop()
    assert not live.running
    assert live.current.timescale_password.get_secret_value() == VALID["TIMESCALE_PASSWORD"]
    with watch(NovaSettings, interval=INTERVAL) as managed:
        assert managed.running
    assert not managed.running


def test_refresh_without_a_change_keeps_the_instance(
    dotenv: Path, live_watchers: list[LiveSettings[Any]]
) -> None:
    live = start(live_watchers, interval=3600.0)
    first = live.current
    assert live.refresh() is False
    assert live.current is first
    assert live.refresh(force=True) is True
    assert live.current is not first
    assert live.current == first


# --- a poll with no change reads no value --------------------------------------------------------


def test_an_idle_vault_poll_reads_only_metadata(
    at_vault: OpenBao, base: str, live_watchers: list[LiveSettings[Any]]
) -> None:
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    live = start(live_watchers, interval=0.05)
    mark = at_vault.audit_mark()
    # Two paths are configured (the environment's and the shared one): one read each per poll.
    assert wait_until(lambda: len(at_vault.requests_since(mark)) >= 6, SEEN)
    live.stop()
    paths = {entry["request"]["path"] for entry in at_vault.requests_since(mark)}
    assert paths == {f"secret/metadata/{base}/development", f"secret/metadata/{base}"}


def test_an_idle_aws_poll_calls_only_describe_secret(
    moto_server: MotoServer,
    moto_forwarder: Forwarder,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: None,
    live_watchers: list[LiveSettings[Any]],
) -> None:
    name = use_new_aws_secret(
        moto_server, monkeypatch, "nova-watch", VAULT_SECRETS, moto_forwarder.url
    )
    live = start(live_watchers, interval=0.05)
    assert moto_forwarder.gets() == [name]  # the first load
    mark = len(moto_forwarder.requests)
    assert wait_until(lambda: len(moto_forwarder.requests) - mark >= 3, SEEN)
    live.stop()
    assert moto_forwarder.gets() == [name]
    assert {op for op, _ in moto_forwarder.requests[mark:]} == {"DescribeSecret"}


# --- logins stay alive ---------------------------------------------------------------------------


@pytest.fixture
def short_lived_approle(at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AppRole login whose tokens live 4 s, renewable up to 8 s, reading this test's paths.

    Vault counts a token's age in whole seconds: shorter TTLs leave the 2/3 mark no margin.
    """
    role_id, secret_id = at_vault.approle(
        [f"secret/{kind}/{base}{tail}" for kind in ("data", "metadata") for tail in ("", "/*")],
        token_ttl="4s",
        token_max_ttl="8s",
    )
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)


@pytest.mark.usefixtures("short_lived_approle")
def test_the_watcher_keeps_its_vault_login_alive_past_the_token_max_ttl(
    at_vault: OpenBao,
    base: str,
    caplog: pytest.LogCaptureFixture,
    changes: Changes,
    live_watchers: list[LiveSettings[Any]],
) -> None:
    """Renewed at 2/3 of the TTL, logged in again before the max TTL: no read is ever denied."""
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    caplog.set_level(logging.WARNING, logger="nova_config")
    mark = at_vault.audit_mark()
    live = start(live_watchers, changes)
    assert wait_until(
        lambda: len(at_vault.requests_since(mark, "auth/approle/login")) >= 2, 2 * SEEN
    )
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS | {"timescale_password": "pw-late"})
    assert wait_until(lambda: changes.calls, SEEN)
    assert password(live) == "pw-late"
    live.stop()
    entries = at_vault.requests_since(mark)
    assert [e for e in entries if e["request"]["path"] == "auth/token/renew-self"]
    denied = [e["request"]["path"] for e in entries if "permission denied" in str(e.get("error"))]
    assert denied == []
    assert caplog.text == ""
