"""The audit trail of a load: its events, the chained file, the logger, and fail-closed writes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nova_config import AuditLogError, NovaSettings, SettingsError, SourceConfigError
from nova_config.auditchain import chain_hash, lines_of
from tests.support.data import VALID, WEBHOOK

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
COMMON = {"time", "event", "settings", "environment", "host", "pid", "load_id"}


@pytest.fixture
def audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(path))
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    return path


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in lines_of(path.read_bytes())]


def assert_chained(path: Path) -> None:
    """Every line is JSON and its prev is the hash of the line before (null first)."""
    prev = None
    for number, line in lines_of(path.read_bytes()):
        assert json.loads(line)["prev"] == prev, f"line {number} breaks the chain"
        prev = chain_hash(line)


def test_a_load_appends_its_events_chained_to_a_new_0600_file(audit_log: Path) -> None:
    NovaSettings()
    NovaSettings()
    assert stat.S_IMODE(audit_log.stat().st_mode) == 0o600
    written = events(audit_log)
    assert [e["event"] for e in written] == (["secret_read"] * 4 + ["settings_loaded"]) * 2
    assert_chained(audit_log)
    assert written[0]["prev"] is None
    first, second = written[:5], written[5:]
    assert len({e["load_id"] for e in first}) == 1
    assert first[0]["load_id"] != second[0]["load_id"]
    for event in written:
        assert set(event) >= COMMON | {"prev"}
        assert TIME.fullmatch(event["time"])
        assert event["settings"] == "nova_config.settings:NovaSettings"
        assert event["environment"] == "development"
        assert event["pid"] == os.getpid()


def test_secret_read_names_field_variable_source_location_and_outcome(audit_log: Path) -> None:
    NovaSettings()
    reads = {e["field"]: e for e in events(audit_log) if e["event"] == "secret_read"}
    assert set(reads) == {
        "discord_webhook_url",
        "timescale_password",
        "alpaca_api_key",
        "alpaca_secret_key",
    }
    assert reads["timescale_password"] | {"time": "", "load_id": "", "host": "", "prev": ""} == {
        "time": "",
        "event": "secret_read",
        "settings": "nova_config.settings:NovaSettings",
        "environment": "development",
        "host": "",
        "pid": os.getpid(),
        "load_id": "",
        "field": "timescale_password",
        "variable": "TIMESCALE_PASSWORD",
        "source": "env",
        "location": "TIMESCALE_PASSWORD",
        "version": None,
        "outcome": "resolved",
        "prev": "",
    }
    assert reads["alpaca_secret_key"]["outcome"] == "default"
    assert "hmac" not in reads["timescale_password"]  # no key, no hash at all
    end = events(audit_log)[-1]
    assert end["event"] == "settings_loaded"
    assert end["problems"] == 0
    assert end["sources"] == ["env", "files", "dotenv"]
    assert isinstance(end["duration_ms"], float)


def test_a_failed_load_records_missing_and_invalid_then_settings_failed(
    audit_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALPACA_API_KEY")
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "https://example.com/not-a-webhook")
    with pytest.raises(SettingsError):
        NovaSettings()
    written = events(audit_log)
    outcomes = {e["field"]: e["outcome"] for e in written if e["event"] == "secret_read"}
    assert outcomes == {
        "discord_webhook_url": "invalid",
        "timescale_password": "resolved",
        "alpaca_api_key": "missing",
        "alpaca_secret_key": "default",
    }
    assert written[-1]["event"] == "settings_failed"
    assert written[-1]["problems"] == 2


def test_hmac_with_a_key_is_vaults_form_over_the_value(
    audit_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_AUDIT_HMAC_KEY", "audit-key-1")
    NovaSettings()
    reads = {e["field"]: e for e in events(audit_log) if e["event"] == "secret_read"}
    expected = hmac.new(b"audit-key-1", VALID["TIMESCALE_PASSWORD"].encode(), hashlib.sha256)
    assert reads["timescale_password"]["hmac"] == "hmac-sha256:" + expected.hexdigest()
    assert "hmac" not in reads["alpaca_secret_key"]  # a default None has nothing to hash
    assert "audit-key-1" not in audit_log.read_text()


def test_an_unreachable_store_is_a_source_failed_event(
    audit_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed loopback port: `unavailable`, and `fallback` in development."""
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("VAULT_TOKEN", "canary-token-8d2f1e")
    monkeypatch.setenv("NOVA_VAULT_RETRIES", "0")
    NovaSettings()
    failed = [e for e in events(audit_log) if e["event"] == "source_failed"]
    assert len(failed) == 1
    assert failed[0]["source"] == "vault"
    assert failed[0]["cause"] == "unavailable"
    assert failed[0]["outcome"] == "fallback"
    assert "127.0.0.1:9" in failed[0]["reason"]
    assert "canary-token-8d2f1e" not in audit_log.read_text()


def test_events_go_to_the_audit_logger_without_prev(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With no file, the logger at INFO alone turns the audit on."""
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.INFO, logger="nova_config.audit"):
        NovaSettings()
    records = [r for r in caplog.records if r.name == "nova_config.audit"]
    assert [r.levelno for r in records] == [logging.INFO] * 5
    logged = [json.loads(r.getMessage()) for r in records]
    assert [e["event"] for e in logged][-1] == "settings_loaded"
    assert all("prev" not in e for e in logged)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_an_unwritable_log_fails_the_load_in_strict_environments(
    audit_log: Path, monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    audit_log.mkdir()  # a directory: it cannot be appended to
    monkeypatch.setenv("NOVA_ENV", environment)
    monkeypatch.setenv("NOVA_SOURCES", "env")
    with pytest.raises(AuditLogError, match=re.escape(str(audit_log))) as info:
        NovaSettings()
    assert "NOVA_AUDIT_LOG" in str(info.value)
    monkeypatch.setenv("NOVA_AUDIT_ON_ERROR", "continue")
    assert NovaSettings().environment == environment


def test_an_unwritable_log_warns_in_development(
    audit_log: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    audit_log.mkdir()
    NovaSettings()
    assert any(
        r.levelno == logging.WARNING and str(audit_log) in r.getMessage() for r in caplog.records
    )
    monkeypatch.setenv("NOVA_AUDIT_ON_ERROR", "fail")
    with pytest.raises(AuditLogError):
        NovaSettings()
    monkeypatch.setenv("NOVA_AUDIT_ON_ERROR", "sometimes")
    with pytest.raises(SourceConfigError, match="NOVA_AUDIT_ON_ERROR must be fail or continue"):
        NovaSettings()


def test_a_fifo_is_refused_without_hanging(
    audit_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(audit_log)
    monkeypatch.setenv("NOVA_AUDIT_ON_ERROR", "fail")
    with pytest.raises(AuditLogError, match="cannot be written"):
        NovaSettings()


def test_a_line_cut_short_is_left_and_the_next_load_starts_a_new_line(audit_log: Path) -> None:
    NovaSettings()
    with audit_log.open("ab") as file:
        file.write(b'{"event":"secret_re')  # a writer that died mid-line
    NovaSettings()
    numbered = list(lines_of(audit_log.read_bytes()))
    assert numbered[5][1] == b'{"event":"secret_re'
    assert json.loads(numbered[6][1])["prev"] == chain_hash(numbered[5][1])
    assert json.loads(numbered[-1][1])["event"] == "settings_loaded"


_WRITER = """
import os, sys
from nova_config import NovaSettings
for _ in range(int(sys.argv[1])):
    NovaSettings()
"""


def test_four_processes_share_one_log_and_the_chain_holds(audit_log: Path) -> None:
    """4 processes x 50 loads: every line whole and valid, every prev right."""
    env = {**os.environ}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, "50"], env=env) for _ in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    written = events(audit_log)
    assert len(written) == 4 * 50 * 5
    assert len({e["pid"] for e in written}) == 4
    assert_chained(audit_log)
    # The events of one load are contiguous: one write per load.
    runs = [e["load_id"] for e in written]
    assert all(runs[i] == runs[i - i % 5] for i in range(len(runs)))


def test_audit_code_is_not_imported_when_audit_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    code = "import sys; from nova_config import NovaSettings; NovaSettings(); " + (
        "print(sorted(m for m in sys.modules if m.startswith(('nova_config.audit', "
        "'nova_config.alerts'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


_SECRET = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="\"\\'$`#"),
    min_size=12,
    max_size=40,
).map(lambda text: "cnry" + text)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(canaries=st.tuples(_SECRET, _SECRET, _SECRET))
def test_no_value_or_key_reaches_the_file_or_the_logger(
    audit_log: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    canaries: tuple[str, str, str],
) -> None:
    password, key, hmac_key = canaries
    monkeypatch.setenv("TIMESCALE_PASSWORD", password)
    monkeypatch.setenv("ALPACA_API_KEY", key)
    monkeypatch.setenv("NOVA_AUDIT_HMAC_KEY", hmac_key)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        NovaSettings()
    shown = audit_log.read_text() + "\n".join(r.getMessage() for r in caplog.records)
    for canary in (password, key, hmac_key, WEBHOOK):
        assert canary not in shown


def test_the_cli_verifies_and_reports_what_loads_wrote(
    audit_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit verify` and `audit report` through main(): intact is 0, a deleted line is 1."""
    from nova_config.cli import main  # noqa: PLC0415 - the command line, as users run it

    NovaSettings()
    NovaSettings()
    assert main(["audit", "verify", str(audit_log)]) == 0
    assert "10 lines, chain intact" in capsys.readouterr().out
    assert main(["audit", "report", str(audit_log), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
    lines = audit_log.read_bytes().splitlines(keepends=True)
    audit_log.write_bytes(b"".join(lines[:3] + lines[4:]))
    assert main(["audit", "verify", str(audit_log)]) == 1
    assert ":4: chain broken" in capsys.readouterr().out
    assert main(["audit", "report", str(audit_log)]) == 1
    assert main(["audit", "report", str(audit_log), "--since", "soon"]) == 2


def test_the_installed_script_verifies(audit_log: Path) -> None:
    NovaSettings()
    script = Path(sys.executable).with_name("nova-config")
    done = subprocess.run(
        [str(script), "audit", "verify", str(audit_log)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert "5 lines, chain intact" in done.stdout


def test_an_event_outside_a_load_joins_the_chain_and_the_logger(
    audit_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """record_event (rotation, reload) writes one chained line and one log record."""
    from nova_config.audit import record_event  # noqa: PLC0415 - the writer under test

    NovaSettings()
    with caplog.at_level(logging.INFO, logger="nova_config.audit"):
        record_event(
            "app.settings:Settings",
            "staging",
            {"NOVA_AUDIT_LOG": str(audit_log)},
            {"event": "secret_rotated", "field": "timescale_password"},
        )
    last = events(audit_log)[-1]
    assert last["event"] == "secret_rotated"
    assert last["settings"] == "app.settings:Settings"
    assert set(last) >= COMMON
    assert_chained(audit_log)
    (logged,) = [r for r in caplog.records if r.name == "nova_config.audit"]
    assert json.loads(logged.getMessage())["field"] == "timescale_password"


def test_an_event_outside_a_load_that_cannot_be_written_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from nova_config.audit import record_event  # noqa: PLC0415 - the writer under test

    record_event("a:B", "production", {"NOVA_AUDIT_LOG": str(tmp_path)}, {"event": "x"})
    assert any(
        r.levelno == logging.ERROR and str(tmp_path) in r.getMessage() for r in caplog.records
    )
