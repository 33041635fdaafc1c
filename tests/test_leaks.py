"""The never-leak guarantee, proven with canaries: a planted secret never shows in any output."""

from __future__ import annotations

import json
import logging
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, field_validator

from nova_config import NovaSettings, SecretSettings, SettingsError, secret
from nova_config.cli import main
from tests.support.data import VALID
from tests.support.helpers import write
from tests.support.leaks import (
    CANARY,
    assert_clean,
    assert_no_canary,
    debug_logs,
    error_surfaces,
    has_debug_record,
    load,
    log_surfaces,
    outcome_surfaces,
    plant_everywhere,
    run_cli,
)
from tests.support.scenarios import KINDS, Scenario, scenarios

MASK = "**********"

pytestmark = pytest.mark.usefixtures("keep_sys_path")


def check_outcome(scenario: Scenario, outcome: NovaSettings | SettingsError) -> None:
    """The load went the way the scenario says, so the canary really was read."""
    if scenario.expect is None:
        assert isinstance(outcome, NovaSettings), f"expected a load, got {outcome}"
        for plant in scenario.plants:
            value = getattr(outcome, plant.variable.lower())
            assert isinstance(value, SecretStr)
            assert value.get_secret_value() == plant.value, f"{plant.variable} was not read back"
            assert outcome.source_of(plant.variable.lower()).source == plant.winner()
        return
    assert isinstance(outcome, SettingsError), f"expected {scenario.expect}, the load succeeded"
    variable, kind, words = scenario.expect
    assert any(
        p.variable == variable and p.kind == kind and words in p.message for p in outcome.problems
    ), f"expected a {kind} problem for {variable}: {outcome}"
    assert outcome.__cause__ is None
    assert outcome.__context__ is None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_canary_never_leaks_from_any_source_or_failure(kind: str, data: st.DataObject) -> None:
    """A canary planted in every source never shows in errors, tracebacks, logs, reprs, the CLI."""
    scenario = data.draw(scenarios(kind), label="scenario")
    event(f"{scenario.kind} in {scenario.environment}")
    # Each example gets its own folder and environment, undone before the next one starts.
    with (
        tempfile.TemporaryDirectory() as tmp,
        pytest.MonkeyPatch.context() as mp,
        debug_logs() as records,
    ):
        kwargs = scenario.apply(Path(tmp), mp)
        outcome = load(**kwargs)
        check_outcome(scenario, outcome)
        bare = load()  # what `nova-config check` sees: no keyword arguments
        surfaces = outcome_surfaces(outcome, "") | outcome_surfaces(bare, "without kwargs: ")
        code, table = run_cli("check")
        json_code, report_text = run_cli("check", "--json")
        report = json.loads(report_text)
        loads = isinstance(bare, NovaSettings)
        assert code == json_code == (0 if loads else 1)
        assert report["ok"] is loads
        surfaces |= {"check output": table, "check --json output": report_text}
        assert has_debug_record(records)
        surfaces |= log_surfaces(records)
        assert_clean(scenario.canary, surfaces)


# --- the same places, one at a time, with a fixed canary ------------------------------------


def valid_except(monkeypatch: pytest.MonkeyPatch, *skip: str) -> None:
    """Set the valid required secrets in the environment, except the named ones."""
    for name, value in VALID.items():
        if name not in skip:
            monkeypatch.setenv(name, value)


def expect_error(**kwargs: Any) -> SettingsError:
    """Load NovaSettings, which must fail, and return its error."""
    outcome = load(**kwargs)
    assert isinstance(outcome, SettingsError), "the load was expected to fail"
    return outcome


def problem_with(exc: SettingsError, variable: str | None, words: str) -> bool:
    """Whether the error reports the variable with a message containing `words`."""
    return any(p.variable == variable and words in p.message for p in exc.problems)


def test_invalid_secret_is_not_quoted_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid secret is named in str(), repr() and each problem, but its value is not."""
    valid_except(monkeypatch, "TIMESCALE_PASSWORD")
    monkeypatch.setenv("TIMESCALE_PASSWORD", f" {CANARY}\n")
    exc = expect_error()
    assert problem_with(exc, "TIMESCALE_PASSWORD", "surrounding whitespace")
    assert_no_canary(error_surfaces(exc))


def test_error_traceback_holds_no_secret_and_chains_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The formatted traceback holds no secret: the ValidationError is neither cause nor context."""
    valid_except(monkeypatch, "ALPACA_API_KEY")
    monkeypatch.setenv("ALPACA_API_KEY", f"{CANARY} ")
    exc = expect_error(timescale_port=f"5432{CANARY}")
    assert exc.__cause__ is None
    assert exc.__context__ is None
    text = "".join(traceback.format_exception(exc))
    assert "SettingsError" in text
    assert "ValidationError" not in text
    assert_no_canary({"traceback": text})


@pytest.mark.parametrize(
    "url",
    [
        f"http://discord.com/api/webhooks/123/{CANARY}",
        f"https://{CANARY}.example.com/api/webhooks/123/abc",
        f"https://discord.com/api/webhooks/123/{CANARY}!",
        f"https://discord.com:{CANARY}/api/webhooks/1/abc",
        f"https://user:{CANARY}@discord.com/api/webhooks/1/abc",
        f"https://[{CANARY}/api/webhooks/1/abc",
    ],
    ids=["scheme", "host", "token", "port", "password", "not-a-url"],
)
def test_invalid_webhook_url_is_not_quoted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """A bad Discord URL is rejected with what is wrong, never with the URL or its token."""
    valid_except(monkeypatch, "DISCORD_WEBHOOK_URL")
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", url)
    exc = expect_error()
    assert problem_with(exc, "DISCORD_WEBHOOK_URL", "is invalid")
    assert_no_canary(error_surfaces(exc))


def test_placeholder_refused_in_production_without_quoting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Production refuses a placeholder secret and does not repeat it."""
    valid_except(monkeypatch, "ALPACA_API_KEY")
    monkeypatch.setenv("NOVA_ENV", "production")
    monkeypatch.setenv("ALPACA_API_KEY", f"<{CANARY}>")
    exc = expect_error()
    assert problem_with(exc, "ALPACA_API_KEY", "placeholder")
    assert_no_canary(error_surfaces(exc))


def test_missing_secret_error_hides_the_secrets_that_were_found(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    """A missing secret's error lists places looked in, not the values found beside it."""
    monkeypatch.setenv("TIMESCALE_PASSWORD", CANARY)
    write(secrets_dir / "ALPACA-API-KEY", CANARY + "\n")
    write(Path(".env"), f"ALPACA_SECRET_KEY='{CANARY}'\n")
    exc = expect_error()
    assert [p.variable for p in exc.problems] == ["DISCORD_WEBHOOK_URL"]
    assert problem_with(exc, "DISCORD_WEBHOOK_URL", "is missing")
    assert_no_canary(error_surfaces(exc))


@pytest.mark.parametrize(
    "line",
    [
        f'TIMESCALE_PASSWORD="{CANARY}',
        f"TIMESCALE_PASSWORD='{CANARY}",
        f'TIMESCALE_PASSWORD="{CANARY}" trailing {CANARY}',
    ],
    ids=["unterminated-double", "unterminated-single", "junk-after-quote"],
)
def test_unparsable_dotenv_line_is_not_shown(monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    """A .env line that cannot be parsed is reported by file and line number, never its text."""
    valid_except(monkeypatch, "TIMESCALE_PASSWORD")
    write(Path(".env"), f"# settings\n{line}\n")
    exc = expect_error()
    assert problem_with(exc, None, ".env:2 cannot be parsed")
    assert_no_canary(error_surfaces(exc))


@pytest.mark.parametrize("via", ["folder", "file-variable"])
def test_non_utf8_secret_file_is_not_quoted(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path, tmp_path: Path, via: str
) -> None:
    """A secret file that is not UTF-8 is named, and the bytes around the bad one are not shown."""
    valid_except(monkeypatch, "ALPACA_API_KEY")
    path = (secrets_dir if via == "folder" else tmp_path) / "alpaca_api_key"
    path.write_bytes(CANARY.encode() + b"\xff" + CANARY.encode())
    if via == "file-variable":
        monkeypatch.setenv("ALPACA_API_KEY_FILE", str(path))
    exc = expect_error()
    assert problem_with(exc, "ALPACA_API_KEY", "is not UTF-8 text")
    assert_no_canary(error_surfaces(exc))


def test_oversized_secret_file_is_not_quoted(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    """A secret file over 64 KiB is refused by size, without any of its content."""
    valid_except(monkeypatch, "TIMESCALE_PASSWORD")
    (secrets_dir / "db_password").write_text(CANARY * 4000, encoding="utf-8")
    exc = expect_error()
    assert problem_with(exc, "TIMESCALE_PASSWORD", "larger than 64 KiB")
    assert_no_canary(error_surfaces(exc))


@pytest.mark.parametrize("where", ["env", "dotenv", "init"])
def test_invalid_port_is_not_quoted(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Even a setting that is not a secret is not quoted when it is invalid."""
    valid_except(monkeypatch)
    port = f"5432{CANARY}"
    if where == "env":
        monkeypatch.setenv("TIMESCALE_PORT", port)
    elif where == "dotenv":
        write(Path(".env"), f"TIMESCALE_PORT={port}\n")
    exc = expect_error(**({"timescale_port": port} if where == "init" else {}))
    assert problem_with(exc, "TIMESCALE_PORT", "valid integer")
    assert_no_canary(error_surfaces(exc))


def test_unknown_keyword_argument_value_is_not_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyword argument that is no setting is named; its value is not shown."""
    valid_except(monkeypatch)
    exc = expect_error(timescale_passwd=CANARY)
    assert problem_with(exc, "timescale_passwd", "is not a setting of NovaSettings")
    assert_no_canary(error_surfaces(exc))


def test_debug_logs_hold_no_secret(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With every logger at DEBUG and PYDANTIC_SETTINGS_DEBUG=1, logs carry places, not values."""
    monkeypatch.setenv("PYDANTIC_SETTINGS_DEBUG", "1")
    plant_everywhere(monkeypatch, secrets_dir)
    with caplog.at_level(logging.DEBUG):
        loaded = load()
        monkeypatch.setenv("TIMESCALE_PORT", f"1{CANARY}")
        failed = load(alpaca_api_key=f" {CANARY}")
    assert isinstance(loaded, NovaSettings)
    assert isinstance(failed, SettingsError)
    assert has_debug_record(caplog.records)
    assert "from env: DISCORD_WEBHOOK_URL" in caplog.text
    assert_no_canary(log_surfaces(caplog.records) | {"caplog.text": caplog.text})


def test_production_dotenv_warning_holds_no_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The production warning about reading .env (and about NOVA_ENV in it) shows no value."""
    monkeypatch.setenv("NOVA_ENV", "production")
    monkeypatch.setenv("NOVA_ALLOW_DOTENV", "1")
    lines = [f"{name}={value}" for name, value in VALID.items() if name != "ALPACA_API_KEY"]
    write(Path(".env"), "\n".join([*lines, f"ALPACA_API_KEY={CANARY}", "NOVA_ENV=test"]) + "\n")
    with caplog.at_level(logging.DEBUG):
        loaded = load()
    assert isinstance(loaded, NovaSettings)
    assert loaded.alpaca_api_key.get_secret_value() == CANARY
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert_no_canary(log_surfaces(caplog.records))


def test_repr_and_str_of_settings_mask_every_secret(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    """repr() and str() of loaded settings show the mask for each secret, never a value."""
    plant_everywhere(monkeypatch, secrets_dir)
    loaded = NovaSettings()
    assert loaded.timescale_password.get_secret_value() == CANARY
    assert loaded.alpaca_secret_key is not None
    assert loaded.alpaca_secret_key.get_secret_value() == f'{CANARY} # = " end'
    assert repr(loaded).count(MASK) == 4
    assert_no_canary({"repr": repr(loaded), "str": str(loaded)})


def test_model_dump_and_json_mask_every_secret(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    """model_dump() and model_dump_json() keep secrets masked."""
    plant_everywhere(monkeypatch, secrets_dir)
    loaded = NovaSettings()
    dumped = loaded.model_dump(mode="json")
    assert dumped["timescale_password"] == MASK
    assert json.loads(loaded.model_dump_json())["alpaca_api_key"] == MASK
    assert_no_canary(
        {
            "model_dump()": repr(loaded.model_dump()),
            "model_dump(mode=json)": json.dumps(dumped),
            "model_dump_json()": loaded.model_dump_json(),
        }
    )


def test_resolution_record_and_source_of_hold_places_not_values(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    """The resolution record and every source_of() name where a value came from, never it."""
    plant_everywhere(monkeypatch, secrets_dir)
    loaded = NovaSettings(timescale_user=CANARY)  # not a secret, so only its provenance is checked
    assert loaded.source_of("discord_webhook_url").location == "DISCORD_WEBHOOK_URL"
    assert loaded.source_of("timescale_password").location == str(secrets_dir / "DB-Password")
    assert loaded.source_of("alpaca_secret_key").source == "dotenv"
    assert loaded.source_of("timescale_user").location == "keyword argument timescale_user"
    surfaces = {"repr(resolution)": repr(loaded.resolution)}
    for name in NovaSettings.model_fields:
        origin = loaded.source_of(name)
        surfaces[f"source_of({name})"] = f"{origin!s} {origin!r}"
    assert_no_canary(surfaces)


def test_dsn_is_a_masked_secret(monkeypatch: pytest.MonkeyPatch, secrets_dir: Path) -> None:
    """The DSN built from the password is itself a SecretStr, masked in str() and repr()."""
    plant_everywhere(monkeypatch, secrets_dir)
    dsn = NovaSettings().timescale_dsn()
    assert f":{CANARY}@" in dsn.get_secret_value()
    assert_no_canary({"str(dsn)": str(dsn), "repr(dsn)": repr(dsn)})


def test_cli_check_prints_no_secret_on_success(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` and `check --json` on a good load report sources and statuses, never values."""
    plant_everywhere(monkeypatch, secrets_dir)
    assert main(["check"]) == 0
    table = capsys.readouterr()
    assert main(["check", "--json"]) == 0
    report = capsys.readouterr()
    assert json.loads(report.out)["ok"] is True
    assert "ALPACA_SECRET_KEY" in table.out
    assert table.err == report.err == ""
    assert_no_canary({"check": table.out, "check --json": report.out})


def test_cli_check_prints_no_secret_on_failure(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` and `check --json` on a failed load report problems, never values."""
    plant_everywhere(monkeypatch, secrets_dir)
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", f"https://{CANARY}.example/api/webhooks/1/x")
    (secrets_dir / "DB-Password").write_bytes(b"\xfe" + CANARY.encode())
    write(Path(".env"), f'ALPACA_SECRET_KEY="{CANARY}\n')
    monkeypatch.setenv("TIMESCALE_PORT", CANARY)
    assert main(["check"]) == 1
    table = capsys.readouterr()
    assert main(["check", "--json"]) == 1
    report = capsys.readouterr()
    problems = json.loads(report.out)["problems"]
    assert {p["variable"] for p in problems} >= {
        "DISCORD_WEBHOOK_URL",
        "TIMESCALE_PASSWORD",
        "TIMESCALE_PORT",
        None,
    }
    assert "is invalid" in table.out
    assert table.err == report.err == ""
    assert_no_canary({"check": table.out, "check --json": report.out})


class TokenSettings(SecretSettings):
    """A subclass whose own validator (carelessly) quotes the secret it rejects, every way."""

    api_token: Annotated[SecretStr, secret()]

    @field_validator("api_token")
    @classmethod
    def _reject(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        lines = " | ".join(text.splitlines())
        raise ValueError(f"token {text} / {text!r} / {json.dumps(text)} / {lines} is revoked")


@pytest.mark.parametrize(
    "token",
    [CANARY, f'{CANARY}\nsecond "line"', f"it's {CANARY}\\x"],
    ids=["plain", "newline-and-quotes", "backslash"],
)
def test_secret_quoted_by_a_subclass_validator_is_cut_out(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """Defence in depth: a secret quoted by a subclass's validator (repr, JSON, lines) is hidden."""
    monkeypatch.setenv("API_TOKEN", token)
    outcome: TokenSettings | SettingsError
    try:
        outcome = TokenSettings()
    except SettingsError as exc:
        outcome = exc
    assert isinstance(outcome, SettingsError)
    assert "token [hidden] / " in str(outcome)
    assert str(outcome).endswith(" is revoked")
    assert_no_canary(error_surfaces(outcome))
