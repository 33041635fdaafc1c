"""Random situations for the never-leak property: every secret planted, with the canary inside,
in random sources, and one thing broken (or none); hypothesis strategies and their data."""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from nova_config import ENVIRONMENTS
from tests.support.helpers import write
from tests.support.leaks import PREFIX

if TYPE_CHECKING:
    import pytest

SECRET_VARIABLES = (
    "DISCORD_WEBHOOK_URL",
    "TIMESCALE_PASSWORD",
    "ALPACA_API_KEY",
    "ALPACA_SECRET_KEY",
)
REQUIRED = SECRET_VARIABLES[:3]
PLAIN_SECRETS = SECRET_VARIABLES[1:]  # the secrets without a URL format


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
