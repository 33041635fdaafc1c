"""`nova-config doctor`: each item failing and passing, the exit statuses, never a value."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nova_config import NovaSettings
from nova_config.doctor import context_for, diagnose
from nova_config.doctor_cli import add_doctor_parser, run_doctor
from nova_config.errors import UsageError
from nova_config.example import render_example
from tests.support.data import VALID, VALID_FIELDS
from tests.support.openbao import OpenBao

pytestmark = pytest.mark.usefixtures("fresh_logins", "keep_sys_path")

REFERENCE = "nova_config.settings:NovaSettings"
GITIGNORE = ".env\n.env.*\n!.env.example\n*.pem\n*.key\nsecrets/\n"


def doctor(*argv: str) -> int:
    """`nova-config doctor ...` parsed and run as the command line's main() does."""
    parser = argparse.ArgumentParser(prog="nova-config")
    add_doctor_parser(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["doctor", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return run_doctor(args)
    except UsageError:
        return 2


def items(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[int, dict[str, Any]]]:
    """The exit status and the --json items, by number."""
    status = doctor(*argv, "--json")
    rows = json.loads(capsys.readouterr().out)
    return status, {row["item"]: row for row in rows}


def item(number: int, environment: str = "development", **kwargs: Any) -> dict[str, Any]:
    """One item run on its own, as a dict (`now` and `backup_max_age` may be given)."""
    context = context_for(NovaSettings, REFERENCE, environment, **kwargs)
    (result,) = diagnose(context, only=[number])
    return result.as_json()


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@e", "-c", "user.name=t", "-C", str(root), *args],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def repo(root: Path, files: dict[str, str], *, commit: Sequence[str] = ()) -> Path:
    """A git repository in `root` with `files` written and `commit` committed (force-added)."""
    git(root, "init", "-q")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if commit:
        git(root, "add", "-f", *commit)
        git(root, "commit", "-q", "-m", "seed")
    return root


@pytest.fixture(autouse=True)
def no_outer_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """git never looks above the test's folder for a repository."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


# --- 1. Secrets kept out of git ---------------------------------------------------------------


def test_git_fails_when_env_is_tracked_and_keys_not_ignored(tmp_path: Path) -> None:
    repo(tmp_path, {".env": "A=1\n", "certs/server.key": "k"}, commit=[".env"])
    row = item(1)
    assert row["status"] == "fail"
    assert "tracked by git: .env" in row["detail"]
    assert "certs/server.key" in row["detail"]
    assert "*.pem" in row["detail"]
    assert "secrets/" in row["detail"]  # NOVA_SECRETS_DIR is inside the repository
    assert "git rm --cached .env" in row["fix"]


def test_git_passes_when_everything_is_ignored_and_untracked(tmp_path: Path) -> None:
    repo(tmp_path, {".gitignore": GITIGNORE, ".env": "A=1\n", "k.pem": "x"}, commit=[".gitignore"])
    row = item(1)
    assert row["status"] == "pass", row
    assert "secrets/" in row["detail"]


def test_git_env_example_may_be_tracked(tmp_path: Path) -> None:
    repo(tmp_path, {".gitignore": GITIGNORE, ".env.example": "A=\n"}, commit=[".env.example"])
    assert item(1)["status"] == "pass"


def test_git_warns_outside_a_repository() -> None:
    row = item(1)
    assert row["status"] == "warn"
    assert "not inside a git repository" in row["detail"]


# --- 2. .env.example ----------------------------------------------------------------------------


def test_example_fails_when_missing(tmp_path: Path) -> None:
    row = item(2)
    assert row["status"] == "fail"
    assert "does not exist" in row["detail"]
    assert "nova-config example" in row["fix"]


def test_example_fails_on_a_real_value_or_a_missing_field_without_showing_it(
    tmp_path: Path,
) -> None:
    text = render_example(NovaSettings, REFERENCE)
    text = text.replace("your-alpaca-api-key-id-here", VALID["ALPACA_API_KEY"])
    text = "\n".join(line for line in text.splitlines() if "TIMESCALE_DB=" not in line) + "\n"
    (tmp_path / ".env.example").write_text(text, encoding="utf-8")
    row = item(2)
    assert row["status"] == "fail"
    assert "ALPACA_API_KEY" in row["detail"]
    assert "TIMESCALE_DB" in row["detail"]
    assert VALID["ALPACA_API_KEY"] not in json.dumps(row)


def test_example_fails_when_it_drifts_from_the_model(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(
        render_example(NovaSettings, REFERENCE) + "# edited\n", encoding="utf-8"
    )
    row = item(2)
    assert row["status"] == "fail"
    assert "differs" in row["detail"]


def test_example_passes_when_generated(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(render_example(NovaSettings, REFERENCE), "utf-8")
    assert item(2)["status"] == "pass"


# --- 3. No hardcoded secrets -------------------------------------------------------------------

needs_scan = pytest.mark.skipif(
    importlib.util.find_spec("nova_config.scan") is None,
    reason="nova_config.scan (nova-config scan) is not in this tree yet",
)


@needs_scan
def test_scan_fails_on_a_hardcoded_secret(tmp_path: Path) -> None:
    key = "AKIA" + "QWERTYUIOPASDFGH"
    repo(tmp_path, {"app.py": f'AWS_KEY = "{key}"\n'}, commit=["app.py"])
    row = item(3)
    assert row["status"] == "fail"
    assert "app.py:1" in row["detail"]
    assert key not in json.dumps(row)


@needs_scan
def test_scan_passes_on_a_clean_repository(tmp_path: Path) -> None:
    repo(tmp_path, {"app.py": "print('hello')\n"}, commit=["app.py"])
    assert item(3)["status"] == "pass"


def test_scan_missing_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `nova_config.scan` the item warns instead of failing the run."""
    monkeypatch.setitem(__import__("sys").modules, "nova_config.scan", None)
    row = item(3)
    assert row["status"] == "warn"
    assert "not available" in row["detail"]


# --- 4. Rotation ---------------------------------------------------------------------------------


def test_rotation_warns_when_no_store_serves_the_secrets(valid_env: dict[str, str]) -> None:
    row = item(4)
    assert row["status"] == "warn"
    assert "ages are unknown" in row["detail"]


def test_rotation_passes_for_fresh_vault_secrets_and_fails_when_overdue(
    at_vault: OpenBao, base: str
) -> None:
    at_vault.write_kv2(f"{base}/development", VALID_FIELDS)
    assert item(4)["status"] == "pass"
    later = datetime.now(UTC) + timedelta(days=91)
    row = item(4, now=later)
    assert row["status"] == "fail"
    assert "ALPACA_API_KEY" in row["detail"]
    assert "nova-config rotate" in row["fix"]


# --- 5. Access logs -----------------------------------------------------------------------------


def test_access_logs_fail_in_production_when_off_and_warn_in_development() -> None:
    assert item(5, "production")["status"] == "fail"
    assert item(5, "staging")["status"] == "fail"
    assert item(5, "development")["status"] == "warn"


def test_access_logs_pass_when_the_audit_log_is_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    assert item(5, "production")["status"] == "pass"
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(tmp_path / "missing" / "audit.jsonl"))
    row = item(5, "production")
    assert row["status"] == "fail"
    assert "cannot be written" in row["detail"]


def test_access_logs_see_the_vault_audit_device(
    at_vault: OpenBao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's server has a file audit device: the root token may see it."""
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    row = item(5, "production")
    assert row["status"] == "pass", row
    assert "1 audit device(s) enabled" in row["detail"]


def test_access_logs_skip_the_vault_check_when_sys_audit_is_denied(
    at_vault: OpenBao, base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    policy = at_vault.policy(f"{base}-read", [f"secret/data/{base}/*"])
    monkeypatch.setenv("VAULT_TOKEN", at_vault.token([policy]))
    row = item(5, "production")
    assert row["status"] == "pass"
    assert "may not read sys/audit" in row["detail"]


# --- 6. Separate secrets per environment -------------------------------------------------------


def test_separation_fails_when_two_environments_share_a_value(at_vault: OpenBao, base: str) -> None:
    at_vault.write_kv2(f"{base}/development", VALID_FIELDS)
    production = VALID_FIELDS | {"timescale_password": "prod-only-pass-1b2c"}
    at_vault.write_kv2(f"{base}/production", production)
    row = item(6)
    assert row["status"] == "fail"
    assert "alpaca_api_key (development, production)" in row["detail"]
    assert "timescale_password" not in row["detail"]
    text = json.dumps(row)
    assert not any(value in text for value in [*VALID.values(), "prod-only-pass-1b2c"])


def test_separation_passes_when_every_environment_has_its_own_values(
    at_vault: OpenBao, base: str
) -> None:
    for index, environment in enumerate(("development", "production")):
        at_vault.write_kv2(
            f"{base}/{environment}", {k: f"{v}-{index}" for k, v in VALID_FIELDS.items()}
        )
    row = item(6)
    assert row["status"] == "pass", row
    assert "development, production" in row["detail"]


def test_separation_cannot_verify_an_environment_it_may_not_read(
    at_vault: OpenBao, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_vault.write_kv2(f"{base}/development", VALID_FIELDS)
    at_vault.write_kv2(f"{base}/production", {"alpaca_api_key": "other"})
    policy = at_vault.policy(f"{base}-dev", [f"secret/data/{base}/development"])
    monkeypatch.setenv("VAULT_TOKEN", at_vault.token([policy]))
    row = item(6)
    assert row["status"] == "warn", row
    assert "cannot verify" in row["detail"]
    assert "production" in row["detail"]


def test_separation_warns_without_a_store() -> None:
    row = item(6)
    assert row["status"] == "warn"
    assert "cannot verify" in row["detail"]


# --- 7. Encrypted backup -----------------------------------------------------------------------


def manifest(path: Path, age: timedelta, environments: Sequence[str] = ("production",)) -> Path:
    when = (datetime.now(UTC) - age).isoformat().replace("+00:00", "Z")
    line = {"time": when, "environments": list(environments), "entries": 3, "sha256": "0" * 64}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return path


def test_backup_missing_fails_in_production_and_warns_elsewhere() -> None:
    row = item(7, "production")
    assert row["status"] == "fail"
    assert "no backup manifest found" in row["detail"]
    assert item(7, "staging")["status"] == "warn"


def test_backup_fresh_passes_and_stale_fails_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = manifest(tmp_path / "backup.json", timedelta(days=2))
    monkeypatch.setenv("NOVA_BACKUP_MANIFEST", str(path))
    assert item(7, "production")["status"] == "pass"
    assert item(7, "production", backup_max_age=timedelta(days=1))["status"] == "fail"
    manifest(path, timedelta(days=8))
    row = item(7, "production")
    assert row["status"] == "fail"
    assert "8d" in row["detail"]
    assert item(7, "development")["status"] == "warn"  # and it does not cover development


def test_backup_manifest_that_is_not_json_is_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "m.json").write_text("not json\n", encoding="utf-8")
    monkeypatch.setenv("NOVA_BACKUP_MANIFEST", str(tmp_path / "m.json"))
    assert "no backup manifest found" in item(7, "production")["detail"]


# --- 8. .env permissions -----------------------------------------------------------------------


def test_permissions_fail_when_env_is_readable_by_others(tmp_path: Path) -> None:
    for name in (".env", ".env.production", ".env.example"):
        (tmp_path / name).write_text("A=1\n", encoding="utf-8")
        (tmp_path / name).chmod(0o644)
    row = item(8)
    assert row["status"] == "fail"
    assert row["fix"] == "chmod 600 .env .env.production"


def test_permissions_pass_when_owner_only_or_absent(tmp_path: Path) -> None:
    assert item(8)["status"] == "pass"
    (tmp_path / ".env").write_text("A=1\n", encoding="utf-8")
    (tmp_path / ".env").chmod(0o600)
    assert item(8)["status"] == "pass"


# --- the command -------------------------------------------------------------------------------


def healthy_repository(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository on which every item that needs no store passes or only warns."""
    files = {".gitignore": GITIGNORE, ".env.example": render_example(NovaSettings, REFERENCE)}
    repo(root, files, commit=list(files))
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(root / "audit.jsonl"))


def test_exit_0_with_warnings_only_and_text_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy_repository(tmp_path, monkeypatch)
    assert doctor() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[pass] 1 Secrets kept out of git: ")
    assert any(line.startswith("[warn] 7 Encrypted backup: ") for line in lines)
    assert any(line.strip().startswith("fix: ") for line in lines)


def test_exit_1_on_any_fail_and_json_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy_repository(tmp_path, monkeypatch)
    status, rows = items(capsys, "--env", "production")
    assert status == 1
    assert sorted(rows) == list(range(1, 9))
    assert rows[7]["status"] == "fail"
    assert set(rows[1]) == {"item", "name", "status", "detail", "fix"}


def test_exit_2_for_usage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert doctor("--settings", "no_such_module:X") == 2
    assert doctor("--backup-max-age", "soon") == 2
    monkeypatch.setenv("NOVA_ENV", "moon")
    assert doctor() == 2


# --- never a value -----------------------------------------------------------------------------

CANARY = "CANARYd0c70r5e"


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tail=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=12),
    environment=st.sampled_from(["development", "production"]),
)
def test_doctor_never_prints_a_value(
    at_vault: OpenBao, base: str, tail: str, environment: str
) -> None:
    """Canaries in the env, .env, .env.example, a secret file and Vault never reach the output."""
    canary = CANARY + tail
    planted = {
        "discord_webhook_url": f"https://discord.com/api/webhooks/123456789012345678/{canary}w",
        "timescale_password": canary + "p",
        "alpaca_api_key": canary + "k",
    }
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        root = Path(tmp)
        mp.chdir(root)
        mp.setenv("NOVA_SECRETS_DIR", str(root / "secrets"))
        (root / "secrets").mkdir()
        (root / "secrets" / "timescale_password").write_text(canary + "f", encoding="utf-8")
        mp.setenv("ALPACA_SECRET_KEY", canary + "e")
        (root / ".env").write_text(f"ALPACA_API_KEY={canary}d\n", encoding="utf-8")
        (root / ".env.example").write_text(f"TIMESCALE_PASSWORD={canary}x\n", encoding="utf-8")
        repo(root, {"app.py": f"TOKEN = '{canary}c'\n"}, commit=["app.py", ".env"])
        at_vault.write_kv2(f"{base}/development", planted)
        at_vault.write_kv2(f"{base}/production", planted)
        outputs = []
        for json_flag in ((), ("--json",)):
            with contextlib.redirect_stdout(__import__("io").StringIO()) as out:
                doctor("--env", environment, *json_flag)
            outputs.append(out.getvalue())
        text = "\n".join(outputs)
        assert "alpaca_api_key (" in text  # the shared values were found
        assert CANARY not in text
        assert os.environ.get("NOVA_ENV") is None


@needs_scan
def test_scan_honours_the_baseline_at_the_root(tmp_path: Path) -> None:
    """A finding accepted in .nova-scan-baseline.json does not fail the item."""
    from nova_config.scan import find  # noqa: PLC0415 - only when scan is in the tree
    from nova_config.scan_baseline import Baseline, Fingerprints  # noqa: PLC0415 - same

    key = "AKIA" + "QWERTYUIOPASDFGH"
    repo(tmp_path, {"app.py": f'AWS_KEY = "{key}"\n'}, commit=["app.py"])
    salt = Baseline.new().salt
    findings = find(str(tmp_path), fingerprints=Fingerprints(salt))
    Baseline(salt, {(f.rule, f.path, f.fingerprint) for f in findings}).write(
        str(tmp_path / ".nova-scan-baseline.json")
    )
    row = item(3)
    assert row["status"] == "pass", row
    assert ".nova-scan-baseline.json" in row["detail"]
