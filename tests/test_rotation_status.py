"""`nova-config rotation-status`: each secret's age from its store, and the exit statuses."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nova_config import NovaSettings
from nova_config.cli import main
from nova_config.rotation_status import rotation_status
from nova_config.sources import aws
from tests.support.data import VALID, VAULT_CANARIES, VAULT_SECRETS
from tests.support.helpers import use_new_aws_secret
from tests.support.moto import MotoServer
from tests.support.openbao import OpenBao

pytestmark = pytest.mark.usefixtures("fresh_logins", "keep_sys_path")

DAY = 86400


def run(argv: Sequence[str]) -> int:
    """`nova-config rotation-status ...`, through the command line's main()."""
    return main(["rotation-status", *argv])


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    """The exit status and the --json report, by field name."""
    status = run([*argv, "--json"])
    data = json.loads(capsys.readouterr().out)
    data["by_field"] = {row["field"]: row for row in data.get("fields", [])}
    return status, data


def secret_files(folder: Path, age_days: float, names: Sequence[str]) -> None:
    """The valid secrets as files in `folder`, last modified `age_days` ago."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.time() - age_days * DAY
    for name in names:
        path = folder / name.lower()
        path.write_text(VALID[name], encoding="utf-8")
        os.utime(path, (stamp, stamp))


@pytest.fixture
def files_10_days_old(secrets_dir: Path) -> Path:
    secret_files(secrets_dir, 10, list(VALID))
    return secrets_dir


@pytest.fixture
def aws_clients() -> Iterator[None]:
    yield
    aws.close_clients()


# --- files, env, defaults -------------------------------------------------------------------------


@pytest.mark.usefixtures("files_10_days_old")
def test_the_default_max_age_passes_files_ten_days_old(capsys: pytest.CaptureFixture[str]) -> None:
    status, data = report(capsys)
    assert status == 0
    assert data["ok"] is True
    assert data["max_age_seconds"] == 90 * DAY
    row = data["by_field"]["timescale_password"]
    assert row["source"] == "files"
    assert row["status"] == "ok"
    assert 10 * DAY - 60 < row["age_seconds"] < 10 * DAY + 60


@pytest.mark.usefixtures("files_10_days_old")
def test_max_age_0d_makes_every_aged_secret_overdue(capsys: pytest.CaptureFixture[str]) -> None:
    status, data = report(capsys, "--max-age", "0d")
    assert status == 1
    assert data["ok"] is False
    statuses = {name: row["status"] for name, row in data["by_field"].items()}
    assert statuses == {
        "discord_webhook_url": "overdue",
        "timescale_password": "overdue",
        "alpaca_api_key": "overdue",
        "alpaca_secret_key": "unknown",  # its default
    }


def test_a_files_age_is_its_modification_time(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_files(secrets_dir, 10, ["DISCORD_WEBHOOK_URL", "ALPACA_API_KEY"])
    secret_files(secrets_dir, 120, ["TIMESCALE_PASSWORD"])
    status, data = report(capsys)
    assert status == 1
    row = data["by_field"]["timescale_password"]
    assert row["status"] == "overdue"
    assert 120 * DAY - 60 < row["age_seconds"] < 120 * DAY + 60
    created = datetime.fromisoformat(row["created"])
    assert abs(created - (datetime.now(UTC) - timedelta(days=120))) < timedelta(minutes=1)
    assert data["by_field"]["alpaca_api_key"]["status"] == "ok"
    assert run(["--max-age", "180d"]) == 0


@pytest.mark.usefixtures("valid_env")
def test_env_served_and_default_fields_are_unknown_and_exit_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, data = report(capsys, "--max-age", "0d")
    assert status == 0
    for name in ("discord_webhook_url", "timescale_password", "alpaca_api_key"):
        row = data["by_field"][name]
        assert (row["source"], row["status"], row["age_seconds"]) == ("env", "unknown", None)
        assert row["note"] == "environment variables have no age"
    assert data["by_field"]["alpaca_secret_key"]["source"] == "default"
    assert data["by_field"]["alpaca_secret_key"]["status"] == "unknown"


def test_dotenv_lines_have_no_age(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".env").write_text(
        "".join(f"{k}={v}\n" for k, v in VALID.items()), encoding="utf-8"
    )
    status, data = report(capsys, "--max-age", "0d")
    assert status == 0
    assert {row["status"] for row in data["fields"]} == {"unknown"}
    assert data["by_field"]["timescale_password"]["source"] == "dotenv"


@pytest.mark.usefixtures("files_10_days_old")
def test_the_table_shows_place_age_and_status_and_never_a_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["--max-age", "7d"]) == 1
    out = capsys.readouterr().out
    assert "overdue after 7d\n" in out
    assert "SETTING" in out
    assert "STATUS" in out
    lines = [line for line in out.splitlines() if line.startswith("TIMESCALE_PASSWORD")]
    assert len(lines) == 1
    assert "files" in lines[0]
    assert " 10d " in lines[0]
    assert lines[0].endswith("overdue")
    assert "ALPACA_SECRET_KEY: a default value has no age" in out
    for value in VALID.values():
        assert value not in out


# --- usage and failures -----------------------------------------------------------------------


@pytest.mark.parametrize("age", ["90", "d", "9y", "-1d", "1.5d", "٣d"])
def test_a_bad_max_age_is_a_usage_error(
    age: str, valid_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([f"--max-age={age}"]) == 2
    assert "is not a duration" in capsys.readouterr().err


@pytest.mark.parametrize(("age", "seconds"), [("12h", 43200), ("30m", 1800), ("45s", 45)])
def test_hours_minutes_and_seconds_are_durations(
    age: str, seconds: int, valid_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, data = report(capsys, "--max-age", age)
    assert status == 0
    assert data["max_age_seconds"] == seconds


def test_a_failed_load_prints_the_error_like_check_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", VALID["DISCORD_WEBHOOK_URL"])
    assert run([]) == 1
    out = capsys.readouterr().out
    assert "TIMESCALE_PASSWORD is missing" in out
    assert VALID["DISCORD_WEBHOOK_URL"] not in out
    status, data = report(capsys)
    assert status == 1
    assert data["ok"] is False
    assert "TIMESCALE_PASSWORD" in {p["variable"] for p in data["problems"]}


def test_an_unknown_settings_class_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--settings", "no_such_module_here:Settings"]) == 2


def test_env_selects_the_environment_and_nova_env_is_restored(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in VALID.items():
        monkeypatch.setenv(f"TEST_{name}", value)
    assert "NOVA_ENV" not in os.environ
    status, data = report(capsys, "--env", "test")
    assert status == 0
    assert data["environment"] == "test"
    assert data["by_field"]["alpaca_api_key"]["location"] == "TEST_ALPACA_API_KEY"
    assert "NOVA_ENV" not in os.environ
    assert run(["--env", "qa"]) == 2


# --- the stores' own creation times ---------------------------------------------------------------


def test_a_vault_secret_is_aged_from_its_versions_created_time(
    at_vault: OpenBao, base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    version = at_vault.write_kv2(f"{base}/development", VAULT_SECRETS | {"alpaca_api_key": "AK2"})
    mark = at_vault.audit_mark()
    status, data = report(capsys)
    assert status == 0
    row = data["by_field"]["alpaca_api_key"]
    assert (row["source"], row["version"], row["status"]) == ("vault", str(version), "ok")
    assert 0 <= row["age_seconds"] < 60
    # One metadata read for the one path the three fields came from.
    assert len(at_vault.requests_since(mark, f"secret/metadata/{base}")) == 1
    assert report(capsys, "--max-age", "0d")[0] == 1
    for canary in VAULT_CANARIES:
        assert canary not in json.dumps(data)


def test_the_age_is_counted_to_now(at_vault: OpenBao, base: str) -> None:
    at_vault.write_kv2(f"{base}/development", VAULT_SECRETS)
    settings = NovaSettings()
    later = datetime.now(UTC) + timedelta(days=100)
    ages = {age.field: age for age in rotation_status(settings, now=later)}
    assert ages["timescale_password"].status == "overdue"
    assert ages["timescale_password"].age is not None
    assert ages["timescale_password"].age > timedelta(days=99)


@pytest.mark.usefixtures("aws_clients")
def test_an_aws_secret_is_aged_from_its_versions_created_date(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_new_aws_secret(moto_server, monkeypatch, "nova-rotation", VAULT_SECRETS)
    status, data = report(capsys)
    assert status == 0
    row = data["by_field"]["timescale_password"]
    assert row["source"] == "aws"
    assert row["version"]
    assert row["status"] == "ok"
    assert row["created"] is not None
    # moto's ListSecretVersionIds gives the time of the listing, in whole seconds, as each
    # version's CreatedDate: counted to a `now` taken just before it, the age can be negative.
    # Counted to a moment two seconds on, a zero maximum makes it overdue.
    later = datetime.now(UTC) + timedelta(seconds=2)
    ages = rotation_status(NovaSettings(), timedelta(0), now=later)
    assert {age.field: age.status for age in ages}["timescale_password"] == "overdue"
