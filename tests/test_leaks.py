"""The never-leak guarantee, proven with canaries: a planted secret never shows in any output."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import string
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, field_validator

from conftest import VALID, write
from nova_config import ENVIRONMENTS, NovaSettings, SecretSettings, SettingsError, secret
from nova_config.cli import main

PREFIX = "CANARY"
# The plain tests' canary; only its random tail is searched for, so a leak that drops the
# prefix is caught too. Alphanumeric, so escaping (repr, JSON, URL quoting) cannot hide it.
CANARY = "CANARY7f3e9a1c2b5d4e"
CANARY_WEBHOOK = f"https://discord.com/api/webhooks/123456789012345678/{CANARY}"
MASK = "**********"

SECRET_VARIABLES = (
    "DISCORD_WEBHOOK_URL",
    "TIMESCALE_PASSWORD",
    "ALPACA_API_KEY",
    "ALPACA_SECRET_KEY",
)
REQUIRED = SECRET_VARIABLES[:3]
PLAIN_SECRETS = SECRET_VARIABLES[1:]  # the secrets without a URL format


@pytest.fixture(autouse=True)
def keep_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`nova-config check` puts the working folder on sys.path; undo it after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


# --- where a secret could show --------------------------------------------------------------


def assert_clean(canary: str, surfaces: Mapping[str, str], *, window: int = 0) -> None:
    """Fail, naming the place, if the canary's random tail (or any `window` chars of it) shows."""
    tail = canary.removeprefix(PREFIX)
    assert len(tail) >= 10
    size = window or len(tail)
    pieces = {tail[i : i + size] for i in range(len(tail) - size + 1)}
    for place, text in surfaces.items():
        assert text, f"{place} is empty, so checking it proves nothing"
        for piece in pieces:
            assert piece not in text, f"the secret (or part of it) leaked into {place}"


def assert_no_canary(surfaces: Mapping[str, str]) -> None:
    """The fixed canary of the plain tests shows nowhere, not even eight characters of it."""
    assert_clean(CANARY, surfaces, window=8)


def load(**kwargs: Any) -> NovaSettings | SettingsError:
    """Load NovaSettings, returning the error instead of raising it (outside any except block)."""
    try:
        return NovaSettings(**kwargs)
    except SettingsError as exc:
        return exc


def error_surfaces(exc: SettingsError, label: str = "") -> dict[str, str]:
    """Every text a failed load exposes: message, repr, problems, traceback, record."""
    surfaces = {
        f"{label}str(exc)": str(exc),
        f"{label}repr(exc)": repr(exc),
        f"{label}exc.args": repr(exc.args),
        f"{label}repr(exc.problems)": repr(exc.problems),
        f"{label}traceback": "".join(traceback.format_exception(exc)),
        f"{label}repr(exc.resolution)": repr(exc.resolution),
    }
    for index, problem in enumerate(exc.problems):
        surfaces[f"{label}problems[{index}].message"] = problem.message
    return surfaces


def settings_surfaces(loaded: NovaSettings, label: str = "") -> dict[str, str]:
    """Every text a loaded settings object exposes without get_secret_value()."""
    dsn = loaded.timescale_dsn()
    surfaces = {
        f"{label}repr(settings)": repr(loaded),
        f"{label}str(settings)": str(loaded),
        f"{label}model_dump()": repr(loaded.model_dump()),
        f"{label}model_dump(mode=json)": json.dumps(loaded.model_dump(mode="json")),
        f"{label}model_dump_json()": loaded.model_dump_json(),
        f"{label}repr(resolution)": repr(loaded.resolution),
        f"{label}timescale_dsn()": f"{dsn!s} {dsn!r}",
    }
    for name in NovaSettings.model_fields:
        origin = loaded.source_of(name)
        surfaces[f"{label}source_of({name})"] = f"{origin!s} {origin!r}"
    return surfaces


def outcome_surfaces(outcome: NovaSettings | SettingsError, label: str) -> dict[str, str]:
    """The surfaces of a load, whichever way it went."""
    if isinstance(outcome, SettingsError):
        return error_surfaces(outcome, label)
    return settings_surfaces(outcome, label)


def log_surfaces(records: list[logging.LogRecord]) -> dict[str, str]:
    """Each captured log record, formatted with its arguments and any exception."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return {
        f"log record {index} ({record.name})": formatter.format(record) + repr(record.args)
        for index, record in enumerate(records)
    }


def has_debug_record(records: list[logging.LogRecord]) -> bool:
    """Whether nova-config's own DEBUG provenance lines were captured (so the log check bites)."""
    return any(r.name == "nova_config" and r.levelno == logging.DEBUG for r in records)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def debug_logs() -> Iterator[list[logging.LogRecord]]:
    """Capture every record any logger emits at DEBUG and above, through the root logger."""
    root = logging.getLogger()
    handler = _Collect()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def run_cli(*argv: str) -> tuple[int, str]:
    """Run `nova-config` in process; return its exit status and everything it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


# --- planting canaries in every source --------------------------------------------------------

SLOTS = ("init", "env", "env_prefixed", "file_var", "folder", "dotenv", "dotenv_layer")
WINNERS = (
    ("init", {"init"}),
    ("env", {"env", "env_prefixed"}),
    ("files", {"file_var", "folder"}),
    ("dotenv", {"dotenv", "dotenv_layer"}),
)
_RAW_SAFE = re.compile(r"[A-Za-z0-9_./:@!-]+")


def dotenv_value(value: str, quote: str) -> str:
    """The value as written in a .env file: raw where safe, else single- or double-quoted."""
    if quote == "raw" and _RAW_SAFE.fullmatch(value):
        return value
    if quote == "'":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


@dataclass(frozen=True)
class Plant:
    """One value, written into each of the chosen sources under one variable."""

    variable: str
    value: str
    slots: frozenset[str]
    quote: str = '"'
    file_name: str = ""

    def winner(self) -> str:
        """The source that supplies the value: the highest-priority slot planted."""
        return next(source for source, slots in WINNERS if slots & self.slots)


@dataclass
class Scenario:
    """A whole situation: environment, planted values, and the problem the load must report."""

    kind: str
    environment: str
    canary: str
    plants: list[Plant]
    raw_files: dict[str, bytes] = field(default_factory=dict)  # variable -> content
    raw_file_slot: str = "folder"
    both_set: str | None = None  # a variable set both directly and through <NAME>_FILE
    bad_dotenv_line: str | None = None
    unknown_kwargs: dict[str, str] = field(default_factory=dict)
    custom_env_file: bool = False
    expect: tuple[str | None, str, str] | None = None  # (variable, kind, words) or None: loads

    def apply(self, root: Path, mp: pytest.MonkeyPatch) -> dict[str, Any]:
        """Write the files and variables into `root` and the environment; return the kwargs."""
        mp.chdir(root)
        mp.setattr(sys, "path", list(sys.path))  # `check` puts the working folder on it
        mp.setenv("NOVA_SECRETS_DIR", str(root / "secrets"))
        mp.setenv("NOVA_ENV", self.environment)
        mp.setenv("PYDANTIC_SETTINGS_DEBUG", "1")
        if self.environment == "production":
            mp.setenv("NOVA_ALLOW_DOTENV", "1")
        base = root / ("app.env" if self.custom_env_file else ".env")
        if self.custom_env_file:
            mp.setenv("NOVA_ENV_FILE", str(base))
        dotenv: tuple[list[str], list[str]] = ([], [])  # the shared file, the environment's layer
        kwargs: dict[str, Any] = dict(self.unknown_kwargs)
        for plant in self.plants:
            kwargs |= self._plant(plant, root, mp, dotenv)
        self._plant_extras(root, mp)
        if self.bad_dotenv_line is not None:
            dotenv[0].append(self.bad_dotenv_line)  # last, so no later quote can close it
        # A NOVA_ENV_FILE that does not exist is an error of its own: always write it.
        if dotenv[0] or self.custom_env_file:
            write(base, "\n".join(["# planted by the test", *dotenv[0]]) + "\n")
        if dotenv[1]:
            write(Path(f"{base}.{self.environment}"), "\n".join(dotenv[1]) + "\n")
        return kwargs

    def _plant(
        self,
        plant: Plant,
        root: Path,
        mp: pytest.MonkeyPatch,
        dotenv: tuple[list[str], list[str]],
    ) -> dict[str, str]:
        """Put one value in each of its slots; return it as a keyword argument if init is one."""
        prefix = self.environment.upper() + "_"
        name, value, slots = plant.variable, plant.value, plant.slots
        for variable, slot in ((name, "env"), (prefix + name, "env_prefixed")):
            if slot in slots:
                mp.setenv(variable, value)
        if "file_var" in slots:
            # NAME and NAME_FILE together are an error: use the name no variable took.
            via = prefix + name if "env" in slots else name
            mp.setenv(via + "_FILE", str(write(root / "vault" / via.lower(), value)))
        if "folder" in slots:
            write(root / "secrets" / (plant.file_name or name.lower()), value)
        quoted = dotenv_value(value, plant.quote)
        for lines, key, slot in (
            (dotenv[0], name, "dotenv"),
            (dotenv[1], prefix + name, "dotenv_layer"),
        ):
            if slot in slots:
                lines.append(f"{key}={quoted}")
        return {name.lower(): value} if "init" in slots else {}

    def _plant_extras(self, root: Path, mp: pytest.MonkeyPatch) -> None:
        """The raw (undecodable or oversized) secret files, and the NAME with NAME_FILE clash."""
        for name, content in self.raw_files.items():
            folder = root / ("secrets" if self.raw_file_slot == "folder" else "vault")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name.lower()).write_bytes(content)
            if self.raw_file_slot == "file_var":
                mp.setenv(name + "_FILE", str(folder / name.lower()))
        if self.both_set is not None:
            mp.setenv(self.both_set, self.canary)
            mp.setenv(self.both_set + "_FILE", str(write(root / "vault" / "both", self.canary)))


AWKWARD = st.sampled_from(list(" \t\n\"'#=\\$`{}<>"))
PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
EXTRAS = st.text(AWKWARD | PRINTABLE, max_size=8)
# "Zq" keeps even a shrunk tail ("Zq00000000") from occurring in ordinary text by chance.
TAILS = st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=8, max_size=14).map(
    "Zq".__add__
)
LEADS = st.sampled_from(["", "'", '"', "#", "=", "a b ", "é", "x=y "])
QUOTES = st.sampled_from(['"', "'", "raw"])
WEBHOOK_TEMPLATES = (
    "http://discord.com/api/webhooks/123/{v}",  # not https
    "https://{v}.example.com/api/webhooks/123/abc",  # the canary as the host
    "https://discord.com/api/webhooks/{v}/abc",  # the canary as the id
    "https://discord.com:{v}/api/webhooks/1/abc",  # the canary as the port
    "https://discord.com/api/webhooks/1/abc#{v}",  # the canary as a fragment
    "https://discord.com/api/webhooks/123/{core}!{v}",  # the canary as a bad token
    "https://user:{v}@discord.com/api/webhooks/1/abc",  # the canary as a URL password
    "https://[{v}/api/webhooks/1/abc",  # not a URL at all
    " https://discord.com/api/webhooks/1/{core}",  # surrounding whitespace
)
PLACEHOLDER_TEMPLATES = ("<{core}>", "your-{core}-here", "your_{core}_here", "<{core} value>")
PORT_TEMPLATES = ("5432{v}", "{v}", "{v}5432", " {core} ")
KINDS = (
    "ok",
    "whitespace",
    "webhook",
    "placeholder",
    "missing",
    "dotenv_line",
    "not_utf8",
    "too_large",
    "bad_port",
    "both_set",
    "unknown_kwarg",
)


def slot_sets() -> st.SearchStrategy[frozenset[str]]:
    """Non-empty sets of sources; NAME and PREFIX_NAME with a _FILE variable too would clash."""

    def fix(slots: frozenset[str]) -> frozenset[str]:
        return slots - {"file_var"} if {"env", "env_prefixed"} <= slots else slots

    return st.frozensets(st.sampled_from(SLOTS), min_size=1).map(fix)


# Each breaker makes one thing wrong, records the problem the load must report, and returns
# (the secret it breaks, its broken value); no value means the secret is left out of the sources.
Breaker = Callable[[st.DrawFn, Scenario], tuple[str | None, str | None]]


def noisy(draw: st.DrawFn, scenario: Scenario) -> str:
    """The canary followed by awkward characters (whitespace, quotes, '#', '=', unicode)."""
    return scenario.canary + draw(EXTRAS)


def break_nothing(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """Every value valid: the load succeeds."""
    del draw, scenario
    return None, None


def break_whitespace(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A secret with surrounding whitespace that survives the one-newline strip of files."""
    target = draw(st.sampled_from(PLAIN_SECRETS))
    lead = draw(st.sampled_from([" ", "\t", "\n", "  ", "\u00a0"]))
    trail = draw(st.sampled_from(["", " ", "\t", "\n\n", " \n"]))
    scenario.expect = (target, "invalid", "surrounding whitespace")
    return target, lead + noisy(draw, scenario) + trail


def break_webhook(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A Discord URL that is wrong with the canary as its host, id, port, token or password."""
    template = draw(st.sampled_from(WEBHOOK_TEMPLATES))
    scenario.expect = ("DISCORD_WEBHOOK_URL", "invalid", "is invalid")
    return "DISCORD_WEBHOOK_URL", template.format(v=noisy(draw, scenario), core=scenario.canary)


def break_placeholder(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A placeholder-shaped secret in staging or production."""
    target = draw(st.sampled_from(PLAIN_SECRETS))
    scenario.expect = (target, "invalid", "placeholder")
    return target, draw(st.sampled_from(PLACEHOLDER_TEMPLATES)).format(core=scenario.canary)


def break_missing(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A required secret left out, beside the planted ones."""
    target = draw(st.sampled_from(REQUIRED))
    scenario.expect = (target, "missing", "is missing")
    return target, None


def break_dotenv_line(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A .env line with an unterminated quote around the canary."""
    variable = draw(st.sampled_from(SECRET_VARIABLES))
    quote = draw(st.sampled_from(['"', "'"]))
    scenario.bad_dotenv_line = f"{variable}={quote}{noisy(draw, scenario).replace(quote, '')}"
    scenario.expect = (None, "source", "cannot be parsed")
    return None, None


def break_file_bytes(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A secret file that is not UTF-8 around the canary, or is over 64 KiB of canaries."""
    target = draw(st.sampled_from(SECRET_VARIABLES))
    text = noisy(draw, scenario).encode()
    if scenario.kind == "not_utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80", b"\xed\xa0\x80"]))
        content = draw(st.sampled_from([bad + text, text + bad, text + bad + text]))
        scenario.expect = (target, "source", "not UTF-8")
    else:
        content = text * (64 * 1024 // len(text) + 2)
        scenario.expect = (target, "source", "larger than 64 KiB")
    scenario.raw_files[target] = content
    scenario.raw_file_slot = draw(st.sampled_from(["folder", "file_var"]))
    return target, None


def break_port(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """TIMESCALE_PORT (not a secret) holding the canary, so it is no integer."""
    port = draw(st.sampled_from(PORT_TEMPLATES)).format(
        v=noisy(draw, scenario), core=scenario.canary
    )
    scenario.plants.append(Plant("TIMESCALE_PORT", port, draw(slot_sets()), draw(QUOTES)))
    scenario.expect = ("TIMESCALE_PORT", "invalid", "valid integer")
    return None, None


def break_both_set(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A secret set both as NAME and through NAME_FILE."""
    target = draw(st.sampled_from(PLAIN_SECRETS))
    scenario.both_set = target
    scenario.expect = (target, "source", "both set")
    return target, None


def break_kwarg(draw: st.DrawFn, scenario: Scenario) -> tuple[str | None, str | None]:
    """A keyword argument that is no setting, holding the canary."""
    # Not "TIMESCALE_PASSWORD": as in pydantic-settings, keyword arguments match in any case.
    name = draw(st.sampled_from(["token", "timescale_passwd", "alpaca_key"]))
    scenario.unknown_kwargs[name] = noisy(draw, scenario)
    scenario.expect = (name, "invalid", "is not a setting")
    return None, None


BREAKERS: dict[str, Breaker] = {
    "ok": break_nothing,
    "whitespace": break_whitespace,
    "webhook": break_webhook,
    "placeholder": break_placeholder,
    "missing": break_missing,
    "dotenv_line": break_dotenv_line,
    "not_utf8": break_file_bytes,
    "too_large": break_file_bytes,
    "bad_port": break_port,
    "both_set": break_both_set,
    "unknown_kwarg": break_kwarg,
}


@st.composite
def scenarios(draw: st.DrawFn, kind: str) -> Scenario:
    """A random situation: every secret planted (canary inside) in random sources, one breaker."""
    strict = ("staging", "production")
    environment = draw(st.sampled_from(strict if kind == "placeholder" else ENVIRONMENTS))
    core = PREFIX + draw(TAILS)
    scenario = Scenario(kind, environment, core, [], custom_env_file=draw(st.booleans()))
    target, broken = BREAKERS[kind](draw, scenario)
    for variable in SECRET_VARIABLES:
        if variable == target and broken is None:
            continue  # missing, or supplied another way (raw file, NAME and NAME_FILE)
        if variable == "ALPACA_SECRET_KEY" and variable != target and not draw(st.booleans()):
            continue  # the optional secret is sometimes left to its default
        if variable == target and broken is not None:
            value = broken
        elif variable == "DISCORD_WEBHOOK_URL":
            value = f"https://discord.com/api/webhooks/123456789012345678/{core}"
        else:
            # Valid: awkward characters inside, none around, never a placeholder.
            value = (draw(LEADS) + core + draw(EXTRAS)).rstrip()
        names = [variable.lower(), variable, variable.lower().replace("_", "-")]
        if variable == "TIMESCALE_PASSWORD":
            names += ["db_password", "DB-PASSWORD"]
        plant = Plant(
            variable, value, draw(slot_sets()), draw(QUOTES), draw(st.sampled_from(names))
        )
        scenario.plants.append(plant)
    return scenario


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


def plant_everywhere(monkeypatch: pytest.MonkeyPatch, secrets_dir: Path) -> None:
    """Every secret holds the canary, each from a different source."""
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", CANARY_WEBHOOK)
    write(secrets_dir / "DB-Password", CANARY + "\n")
    monkeypatch.setenv("ALPACA_API_KEY_FILE", str(write(Path("vault/key"), CANARY)))
    write(Path(".env"), f'ALPACA_SECRET_KEY="{CANARY} # = \\" end"\n')


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
