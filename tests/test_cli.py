"""The `nova-config` command line: `check` and `example`, in process and as the installed script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nova_config import ENVIRONMENTS, NovaSettings
from nova_config.cli import main
from tests.support.data import VALID
from tests.support.helpers import write

SCRIPT = Path(sys.executable).parent / "nova-config"
DEFAULT_REF = "nova_config.settings:NovaSettings"

# `--settings` puts the working folder on sys.path; the fixture undoes it after each test.
pytestmark = pytest.mark.usefixtures("keep_sys_path")

SHOP_MODULE = '''"""A settings class as an application would define it."""

from typing import Annotated

from pydantic import SecretStr

from nova_config import SecretSettings, secret, setting


class ShopSettings(SecretSettings):
    stripe_api_key: Annotated[SecretStr, secret(aliases=("stripe-key",), help="Stripe API key")]
    shop_name: Annotated[str, setting(help="Name printed on receipts")] = "demo shop"


class NotSettings:
    pass
'''
SHOP_VARIABLES = ("STRIPE_API_KEY", "SHOP_NAME")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `main(argv)` in process; return the exit status, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_script(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command in a new process, in the test's working folder and environment."""
    return subprocess.run(
        list(argv), env=os.environ.copy(), capture_output=True, text=True, timeout=60, check=False
    )


def table_rows(out: str) -> dict[str, list[str]]:
    """The `check` table as variable -> [source, location, status]."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("SETTING"))
    assert re.split(r"\s{2,}", lines[start].strip()) == ["SETTING", "SOURCE", "LOCATION", "STATUS"]
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells[1:]
    return rows


def json_fields(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The `check --json` fields by variable name."""
    return {entry["variable"]: entry for entry in report["fields"]}


def set_valid(monkeypatch: pytest.MonkeyPatch, *skip: str) -> None:
    """Put the valid required secrets in the environment, except the named ones."""
    for name, value in VALID.items():
        if name not in skip:
            monkeypatch.setenv(name, value)


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A settings module in the working folder (a fresh name each test); yields `module:Class`."""
    name = f"shop_settings_{uuid.uuid4().hex}"
    write(tmp_path / f"{name}.py", SHOP_MODULE)
    for variable in SHOP_VARIABLES:
        for prefix in ("", *(env.upper() + "_" for env in ENVIRONMENTS)):
            monkeypatch.delenv(prefix + variable, raising=False)
            monkeypatch.delenv(prefix + variable + "_FILE", raising=False)
    yield f"{name}:ShopSettings"
    sys.modules.pop(name, None)


# --- check ---------------------------------------------------------------------------------


def test_check_table_shows_source_location_and_status_of_every_variable(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    secrets_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`check` prints one row per variable with its source, location and ok/default, exit 0."""
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", VALID["DISCORD_WEBHOOK_URL"])
    write(secrets_dir / "db_password", VALID["TIMESCALE_PASSWORD"] + "\n")
    write(tmp_path / ".env", f"# local\nALPACA_API_KEY={VALID['ALPACA_API_KEY']}\n")
    write(tmp_path / ".env.development", "TIMESCALE_PORT=6543\n")
    code, out, err = run(capsys, "check")
    assert code == 0
    assert err == ""
    assert out.splitlines()[0] == f"{DEFAULT_REF} in development"
    rows = table_rows(out)
    assert set(rows) == {plan.variable for plan in NovaSettings.__nova_plans__}
    assert rows["DISCORD_WEBHOOK_URL"] == ["env", "DISCORD_WEBHOOK_URL", "ok"]
    assert rows["TIMESCALE_PASSWORD"] == ["files", str(secrets_dir / "db_password"), "ok"]
    assert rows["ALPACA_API_KEY"] == ["dotenv", f"{tmp_path / '.env'}:2", "ok"]
    assert rows["TIMESCALE_PORT"] == ["dotenv", f"{tmp_path / '.env.development'}:1", "ok"]
    assert rows["ALPACA_SECRET_KEY"] == ["default", "default value", "default"]
    assert rows["TIMESCALE_HOST"] == ["default", "default value", "default"]
    for value in VALID.values():
        assert value not in out


def test_check_names_the_prefixed_variable_that_won(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In staging, `check` shows STAGING_ALPACA_API_KEY as the location when it wins."""
    set_valid(monkeypatch)
    monkeypatch.setenv("NOVA_ENV", "staging")
    monkeypatch.setenv("STAGING_ALPACA_API_KEY", "AKSTAGINGKEY987654321")
    code, out, _ = run(capsys, "check")
    assert code == 0
    assert out.splitlines()[0] == f"{DEFAULT_REF} in staging"
    assert table_rows(out)["ALPACA_API_KEY"] == ["env", "STAGING_ALPACA_API_KEY", "ok"]


def test_check_failure_exits_1_with_a_readable_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A load that fails exits 1 with the table and every problem, and no traceback."""
    set_valid(monkeypatch, "TIMESCALE_PASSWORD", "ALPACA_API_KEY")
    code, out, err = run(capsys, "check")
    assert code == 1
    assert err == ""
    assert "NovaSettings could not be loaded (development): 2 problems" in out
    assert "  - TIMESCALE_PASSWORD is missing; set it in one of the places looked in:" in out
    assert "  - ALPACA_API_KEY is missing" in out
    rows = table_rows(out)
    assert rows["TIMESCALE_PASSWORD"] == ["-", "-", "missing"]
    assert rows["DISCORD_WEBHOOK_URL"] == ["env", "DISCORD_WEBHOOK_URL", "ok"]
    assert "Traceback" not in out + err


def test_check_json_reports_a_good_load(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --json` is valid JSON with ok, environment, a field per setting and no problems."""
    set_valid(monkeypatch)
    monkeypatch.setenv("NOVA_ENV", "test")
    code, out, err = run(capsys, "check", "--json")
    assert code == 0
    assert err == ""
    report = json.loads(out)
    assert report["ok"] is True
    assert report["environment"] == "test"
    assert report["settings"] == DEFAULT_REF
    assert report["problems"] == []
    fields = json_fields(report)
    assert list(fields) == [plan.variable for plan in NovaSettings.__nova_plans__]
    assert fields["ALPACA_API_KEY"] == {
        "field": "alpaca_api_key",
        "variable": "ALPACA_API_KEY",
        "secret": True,
        "source": "env",
        "location": "ALPACA_API_KEY",
        "version": None,
        "status": "ok",
    }
    assert fields["TIMESCALE_DB"]["secret"] is False
    assert fields["TIMESCALE_DB"]["status"] == "default"


def test_check_json_marks_missing_and_invalid_fields(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --json` gives status missing for an absent secret and invalid for a bad one."""
    set_valid(monkeypatch, "ALPACA_API_KEY", "TIMESCALE_PASSWORD")
    monkeypatch.setenv("TIMESCALE_PASSWORD", " padded-password ")
    code, out, _ = run(capsys, "check", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["environment"] == "development"
    fields = json_fields(report)
    assert fields["ALPACA_API_KEY"]["status"] == "missing"
    assert fields["ALPACA_API_KEY"]["source"] is None
    assert fields["TIMESCALE_PASSWORD"]["status"] == "invalid"
    assert fields["TIMESCALE_PASSWORD"]["source"] == "env"
    assert fields["DISCORD_WEBHOOK_URL"]["status"] == "ok"
    kinds = {(p["variable"], p["kind"]) for p in report["problems"]}
    assert kinds == {("ALPACA_API_KEY", "missing"), ("TIMESCALE_PASSWORD", "invalid")}
    assert all(p["message"] for p in report["problems"])
    assert "padded-password" not in out


def test_check_json_marks_an_unreadable_secret_file_as_error(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret file that cannot be used gives its field the status error."""
    set_valid(monkeypatch, "ALPACA_API_KEY")
    (secrets_dir / "alpaca_api_key").write_bytes(b"\xff\xfe")
    code, out, _ = run(capsys, "check", "--json")
    assert code == 1
    report = json.loads(out)
    assert json_fields(report)["ALPACA_API_KEY"]["status"] == "error"
    assert any(
        p["kind"] == "source" and "is not UTF-8 text" in p["message"] for p in report["problems"]
    )


def test_bad_nova_env_exits_1_listing_the_environments(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown NOVA_ENV fails `check` with exit 1 and the list of allowed environments."""
    set_valid(monkeypatch)
    monkeypatch.setenv("NOVA_ENV", "qa")
    code, out, err = run(capsys, "check")
    assert code == 1
    assert "NOVA_ENV must be one of development, test, staging, production" in out
    assert "Traceback" not in out + err
    code, out, _ = run(capsys, "check", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["environment"] is None
    assert [p["message"] for p in report["problems"]] == [
        "NOVA_ENV must be one of development, test, staging, production "
        "(got a value that is none of them)"
    ]


def test_bad_nova_env_json_reports_no_field_as_ok(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When nothing could be resolved, `check --json` reports no field as ok."""
    set_valid(monkeypatch)
    monkeypatch.setenv("NOVA_ENV", "qa")
    code, out, _ = run(capsys, "check", "--json")
    assert code == 1
    statuses = {f["variable"]: f["status"] for f in json.loads(out)["fields"]}
    assert "ok" not in statuses.values(), statuses


# --- --settings ------------------------------------------------------------------------------


def test_settings_option_checks_a_custom_class(
    shop: str, secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--settings module:Class` loads the application's own class, aliases included."""
    write(secrets_dir / "Stripe-Key", "sk_test_0123456789abcdef\n")
    code, out, err = run(capsys, "check", "--settings", shop)
    assert code == 0, out + err
    assert out.splitlines()[0] == f"{shop} in development"
    rows = table_rows(out)
    assert rows == {
        "STRIPE_API_KEY": ["files", str(secrets_dir / "Stripe-Key"), "ok"],
        "SHOP_NAME": ["default", "default value", "default"],
    }
    assert "sk_test_0123456789abcdef" not in out


def test_settings_option_reports_a_custom_class_failure(
    shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A custom class that cannot load exits 1 and names its own variables and file aliases."""
    code, out, _ = run(capsys, "check", "--settings", shop, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["settings"] == shop
    assert list(json_fields(report)) == list(SHOP_VARIABLES)
    (problem,) = report["problems"]
    assert problem["variable"] == "STRIPE_API_KEY"
    assert problem["kind"] == "missing"
    assert "files named stripe_api_key, stripe-key" in problem["message"]


@pytest.mark.parametrize("command", ["check", "example"])
@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("NovaSettings", "--settings must look like package.module:Class (got 'NovaSettings')"),
        (":NovaSettings", "--settings must look like package.module:Class"),
        ("nova_config.settings:", "--settings must look like package.module:Class"),
        ("no_such_module_zq:Settings", "cannot import no_such_module_zq: No module named"),
        ("nova_config.settings:Nothing", "is not a nova_config.SecretSettings subclass"),
        ("nova_config.errors:Problem", "is not a nova_config.SecretSettings subclass"),
        ("json:dumps", "json:dumps is not a nova_config.SecretSettings subclass"),
    ],
    ids=["no-colon", "no-module", "no-class", "unimportable", "no-attribute", "not-settings", "fn"],
)
def test_bad_settings_reference_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: str, reference: str, words: str
) -> None:
    """A --settings that is malformed, unimportable or not settings exits 2 with a message."""
    code, out, err = run(capsys, command, "--settings", reference)
    assert code == 2
    assert out == ""
    assert err.startswith("nova-config: ")
    assert words in err
    assert "Traceback" not in err


def test_settings_class_in_a_module_that_fails_to_import_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings module whose own imports fail is reported as a usage error, exit 2."""
    name = f"broken_{uuid.uuid4().hex}"
    write(tmp_path / f"{name}.py", "import no_such_dependency_zq\n")
    code, out, err = run(capsys, "check", "--settings", f"{name}:Settings")
    assert code == 2
    assert out == ""
    assert f"nova-config: cannot import {name}: No module named 'no_such_dependency_zq'" in err


def test_custom_module_class_that_is_not_settings_is_a_usage_error(
    shop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A class of the right module that is not a SecretSettings subclass exits 2."""
    reference = shop.replace(":ShopSettings", ":NotSettings")
    code, _, err = run(capsys, "check", "--settings", reference)
    assert code == 2
    assert f"{reference} is not a nova_config.SecretSettings subclass" in err


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("def broken(:\n", "invalid syntax"),
        (
            "import os\nraise ValueError('bad value ' + os.environ['PROBE_VALUE'])\n",
            "it raised ValueError (message not shown",
        ),
    ],
    ids=["syntax-error", "error-at-import"],
)
def test_settings_module_that_fails_to_import_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    shown: str,
) -> None:
    """A module that does not compile or raises at import exits 2; a raised message is hidden."""
    monkeypatch.setenv("PROBE_VALUE", "CANARYimportvalue42")
    name = f"broken_{uuid.uuid4().hex}"
    write(tmp_path / f"{name}.py", source)
    code, out, err = run(capsys, "check", "--settings", f"{name}:Settings")
    assert code == 2
    assert f"cannot import {name}" in err
    assert shown in err
    assert "CANARYimportvalue42" not in out + err


def test_settings_module_rejected_by_nova_config_at_import_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings class nova-config refuses at import (secret not SecretStr) exits 2."""
    name = f"plainstr_{uuid.uuid4().hex}"
    source = (
        "from typing import Annotated\n"
        "from nova_config import SecretSettings, secret\n\n\n"
        "class Settings(SecretSettings):\n"
        "    token: Annotated[str, secret()]\n"
    )
    write(tmp_path / f"{name}.py", source)
    code, _, err = run(capsys, "check", "--settings", f"{name}:Settings")
    assert code == 2
    assert "is marked secret but is not a SecretStr field" in err


def test_relative_settings_reference_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A relative module name in --settings is a malformed reference, exit 2."""
    code, _, err = run(capsys, "check", "--settings", ".settings:NovaSettings")
    assert code == 2
    assert err.startswith("nova-config: ")


# --- example ---------------------------------------------------------------------------------


def test_example_prints_every_variable_once(capsys: pytest.CaptureFixture[str]) -> None:
    """`example` prints a header, then NAME=placeholder for every setting, and nothing else."""
    code, out, err = run(capsys, "example")
    assert code == 0
    assert err == ""
    assert out.startswith(f"# Generated by `nova-config example --settings {DEFAULT_REF}`")
    assignments = [line for line in out.splitlines() if line and not line.startswith("#")]
    names = [line.partition("=")[0] for line in assignments]
    assert names == [plan.variable for plan in NovaSettings.__nova_plans__]
    assert "TIMESCALE_PASSWORD=your-timescale-password-here" in assignments
    assert "TIMESCALE_PORT=5432" in assignments
    assert "# A secret file may also be named: db_password" in out
    assert "# Password of the TimescaleDB user (required secret)" in out


def test_example_output_option_writes_the_same_text_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`example -o FILE` writes exactly what `example` prints, and prints nothing."""
    _, printed, _ = run(capsys, "example")
    target = tmp_path / "generated.env.example"
    code, out, err = run(capsys, "example", "-o", str(target))
    assert code == 0
    assert out == err == ""
    assert target.read_text(encoding="utf-8") == printed
    code, out, _ = run(capsys, "example", "--output", "-")
    assert code == 0
    assert out == printed


def test_example_output_to_a_missing_folder_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`example -o` into a folder that does not exist exits 2 with the cause and the path."""
    target = tmp_path / "no-such-folder" / ".env.example"
    code, out, err = run(capsys, "example", "-o", str(target))
    assert code == 2
    assert out == ""
    assert err == f"nova-config: No such file or directory: {target}\n"


def test_example_for_a_custom_class(shop: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`example --settings` renders the custom class: its variables, aliases and quoting."""
    code, out, _ = run(capsys, "example", "--settings", shop)
    assert code == 0
    assert f"--settings {shop}`" in out.splitlines()[0]
    assert "# Stripe API key (required secret)\n" in out
    assert "# A secret file may also be named: stripe-key\n" in out
    assert "STRIPE_API_KEY=your-stripe-api-key-here\n" in out
    assert "SHOP_NAME='demo shop'\n" in out
    assert "TIMESCALE" not in out


def test_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    """No command or an unknown option exits 2 with argparse's usage; --help exits 0."""
    code, _, err = run(capsys)
    assert code == 2
    assert "usage: nova-config" in err
    code, _, err = run(capsys, "check", "--bogus")
    assert code == 2
    assert "unrecognized arguments: --bogus" in err
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "check" in out
    assert "example" in out


# --- the installed script and python -m -------------------------------------------------------


def test_installed_script_checks_and_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed `nova-config` script prints the table and exits 0 on a good load."""
    set_valid(monkeypatch)
    result = run_script(str(SCRIPT), "check")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == f"{DEFAULT_REF} in development"
    assert table_rows(result.stdout)["ALPACA_API_KEY"] == ["env", "ALPACA_API_KEY", "ok"]


def test_installed_script_failure_exits_1_without_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The installed script exits 1 on a failed load with the error and no traceback."""
    set_valid(monkeypatch, "DISCORD_WEBHOOK_URL")
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "http://example.com/hook")
    result = run_script(str(SCRIPT), "check")
    assert result.returncode == 1
    assert "DISCORD_WEBHOOK_URL (env: DISCORD_WEBHOOK_URL) is invalid" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "http://example.com/hook" not in result.stdout + result.stderr


def test_installed_script_bad_settings_exits_2() -> None:
    """The installed script reports a bad --settings on stderr with exit 2."""
    result = run_script(str(SCRIPT), "example", "--settings", "no_such_module_zq:X")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("nova-config: cannot import no_such_module_zq")


def test_python_m_nova_config_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m nova_config check --json` works like the script."""
    set_valid(monkeypatch)
    result = run_script(sys.executable, "-m", "nova_config", "check", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert json_fields(report)["TIMESCALE_PASSWORD"]["location"] == "TIMESCALE_PASSWORD"


def test_module_that_loads_settings_at_import_reports_their_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An app module that instantiates its settings at import gets the settings error, exit 1."""
    name = f"eager_{uuid.uuid4().hex}"
    write(
        tmp_path / f"{name}.py",
        "from nova_config import NovaSettings\n\nsettings = NovaSettings()\n",
    )
    code, out, err = run(capsys, "check", "--settings", f"{name}:NovaSettings")
    assert code == 1
    assert "NovaSettings could not be loaded (development): 3 problems" in out
    assert "Traceback" not in out + err
    code, out, _ = run(capsys, "check", "--json", "--settings", f"{name}:NovaSettings")
    report = json.loads(out)
    assert (code, report["ok"], len(report["problems"])) == (1, False, 3)
    code, _, err = run(capsys, "example", "--settings", f"{name}:NovaSettings")
    assert code == 2
    assert "loads its settings at import, and they failed" in err
