"""The canary, the places a secret could show, and the checks that it shows in none of them.

Shared by the never-leak tests (tests/test_leaks*.py) and the safety tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from nova_config import NovaSettings, SecretSettings, SettingsError
from nova_config.cli import main
from tests.support.helpers import write

if TYPE_CHECKING:
    import pytest

PREFIX = "CANARY"
# The plain tests' canary; only its random tail is searched for, so a leak that drops the
# prefix is caught too. Alphanumeric, so escaping (repr, JSON, URL quoting) cannot hide it.
CANARY = "CANARY7f3e9a1c2b5d4e"
CANARY_WEBHOOK = f"https://discord.com/api/webhooks/123456789012345678/{CANARY}"


# --- where a secret could show -------------------------------------------------------------------


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


def settings_surfaces(loaded: SecretSettings, label: str = "") -> dict[str, str]:
    """Every text loaded settings expose without get_secret_value(), provenance included
    (each part of a nested model's too; NovaSettings' `timescale_dsn()`)."""
    surfaces = {
        f"{label}repr(settings)": repr(loaded),
        f"{label}str(settings)": str(loaded),
        f"{label}model_dump()": repr(loaded.model_dump()),
        f"{label}model_dump(mode=json)": json.dumps(loaded.model_dump(mode="json")),
        f"{label}model_dump_json()": loaded.model_dump_json(),
        f"{label}repr(resolution)": repr(loaded.resolution),
    }
    if isinstance(loaded, NovaSettings):
        dsn = loaded.timescale_dsn()
        surfaces[f"{label}timescale_dsn()"] = f"{dsn!s} {dsn!r}"
    for name, info in type(loaded).model_fields.items():
        paths = [name]
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            paths += [f"{name}.{inner}" for inner in info.annotation.model_fields]
            surfaces[f"{label}str(settings.{name})"] = str(getattr(loaded, name))
        for path in paths:
            origin = loaded.source_of(path)
            surfaces[f"{label}source_of({path})"] = f"{origin!s} {origin!r}"
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


def plant_everywhere(monkeypatch: pytest.MonkeyPatch, secrets_dir: Path) -> None:
    """Every secret holds the canary, each from a different source."""
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", CANARY_WEBHOOK)
    write(secrets_dir / "DB-Password", CANARY + "\n")
    monkeypatch.setenv("ALPACA_API_KEY_FILE", str(write(Path("vault/key"), CANARY)))
    write(Path(".env"), f'ALPACA_SECRET_KEY="{CANARY} # = \\" end"\n')


# --- exception chains and frame locals -----------------------------------------------------------


def chain_of(exc: BaseException) -> list[BaseException]:
    """The exception and every `__cause__` and `__context__` behind it, suppressed ones too."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        error = todo.pop()
        if any(error is known for known in seen):
            continue
        seen.append(error)
        todo.extend(e for e in (error.__cause__, error.__context__) if e is not None)
    return seen


def chain_surfaces(exc: BaseException) -> dict[str, str]:
    """What each exception of the chain carries: message, repr, args, and a decode error's bytes."""
    surfaces: dict[str, str] = {}
    for index, error in enumerate(chain_of(exc)):
        label = f"chain[{index}] {type(error).__name__}"
        surfaces[f"{label} str"] = str(error) or "(empty)"
        surfaces[f"{label} repr"] = repr(error)
        surfaces[f"{label} args"] = repr(error.args)
        if isinstance(error, UnicodeError):
            surfaces[f"{label} object"] = repr(getattr(error, "object", None))
    return surfaces


def locals_surfaces(exc: BaseException) -> dict[str, str]:
    """What an error tracker records: `capture_locals` tracebacks, and the repr of every local
    of every frame of the exception and of each exception chained to it."""
    surfaces = {
        "traceback with capture_locals": "".join(
            traceback.TracebackException.from_exception(exc, capture_locals=True).format()
        )
    }
    for index, error in enumerate(chain_of(exc)):
        tb = error.__traceback__
        depth = 0
        while tb is not None:
            frame = tb.tb_frame
            where = f"chain[{index}] frame {depth} {frame.f_code.co_qualname}"
            for name, value in frame.f_locals.items():
                surfaces[f"{where} local {name}"] = repr(value)
            tb = tb.tb_next
            depth += 1
    return surfaces


def assert_no_run(secret: str, surfaces: Mapping[str, str], size: int = 6) -> None:
    """No run of `size` characters of the secret shows anywhere, in any letter case."""
    pieces = {secret[i : i + size].lower() for i in range(len(secret) - size + 1)}
    assert pieces
    for place, text in surfaces.items():
        lowered = text.lower()
        for piece in pieces:
            assert piece not in lowered, f"{piece!r} of the secret shows in {place}: {text!r}"
