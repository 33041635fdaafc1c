"""Time loading NovaSettings against a bare pydantic-settings model, in-process and per process."""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pydantic_settings
from pydantic import SecretStr
from pydantic_settings import BaseSettings

# The project's root, for the tests' data (tests.support.data), reused rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nova_config import ENVIRONMENTS, NovaSettings
from tests.support.data import VALID, WEBHOOK

TARGET_IN_PROCESS = 1.25  # nova does more than the bare model: its sources and provenance
TARGET_WHOLE_PROCESS = 1.05

NOVA_CODE = "from nova_config import NovaSettings; NovaSettings()"
# The bare side is the same model as NovaSettings (fields, types, defaults, frozen), without
# nova-config: what pydantic-settings alone costs for it.
BARE_MODEL = """\
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BareSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, hide_input_in_errors=True)

    environment: Literal["development", "test", "staging", "production"] = "development"
    discord_webhook_url: SecretStr
    timescale_password: SecretStr
    alpaca_api_key: SecretStr
    alpaca_secret_key: SecretStr | None = None
    timescale_host: str = "localhost"
    timescale_port: int = Field(default=5432, ge=1, le=65535)
    timescale_user: str = "postgres"
    timescale_db: str = "nova_aetus"


class BareDotenvSettings(BareSettings):
    model_config = SettingsConfigDict(env_file=".env")
"""
BARE_CODE = BARE_MODEL + "\n\nBareSettings()\n"

_namespace: dict[str, object] = {}
exec(compile(BARE_MODEL, "<bare model>", "exec", dont_inherit=True), _namespace)  # noqa: S102 - the text above
BareSettings: type[BaseSettings] = _namespace["BareSettings"]  # type: ignore[assignment]
BareDotenvSettings: type[BaseSettings] = _namespace["BareDotenvSettings"]  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Figures:
    """One side's timings, in the unit it is reported in."""

    best: float
    median: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """Nova against bare for one scenario, and the target the ratio is judged by."""

    label: str
    nova: Figures
    bare: Figures
    target: float

    @property
    def best_ratio(self) -> float:
        """nova/bare of the fastest runs."""
        return self.nova.best / self.bare.best

    @property
    def median_ratio(self) -> float:
        """nova/bare of the medians; the target is judged on this one."""
        return self.nova.median / self.bare.median


def project_variable(name: str) -> bool:
    """Whether a variable could change what either side loads (NOVA_*, field names, _FILE)."""
    upper = name.upper()
    if upper.startswith(("NOVA_", "PYDANTIC_SETTINGS_")):
        return True
    prefixes = ("", *(env.upper() + "_" for env in ENVIRONMENTS))
    for field in NovaSettings.model_fields:
        for prefix in prefixes:
            if upper in (prefix + field.upper(), prefix + field.upper() + "_FILE"):
                return True
    return False


def clean_environ() -> dict[str, str]:
    """The process environment without any variable that nova-config or the bare model reads."""
    return {k: v for k, v in os.environ.items() if not project_variable(k)}


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Replace os.environ with exactly `values` for the block, then restore it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def working_folder(dotenv: str | None) -> Iterator[Path]:
    """A fresh temporary cwd for the block, holding only a `.env` when `dotenv` is given."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="nova-bench-") as folder:
        path = Path(folder)
        if dotenv is not None:
            (path / ".env").write_text(dotenv, encoding="utf-8")
        os.chdir(path)
        try:
            yield path
        finally:
            os.chdir(previous)


def dotenv_text() -> str:
    """The three secrets as `.env` lines."""
    return "".join(f"{name}={value}\n" for name, value in VALID.items())


def check_loaded(label: str, timescale_password: SecretStr) -> None:
    """Stop the benchmark if a side did not really load the secrets it is timed on."""
    if timescale_password.get_secret_value() != VALID["TIMESCALE_PASSWORD"]:
        raise SystemExit(f"{label} did not load TIMESCALE_PASSWORD from the intended source")


def check_nova(label: str) -> None:
    """Load NovaSettings once and check it read the benchmark's values."""
    settings = NovaSettings()
    check_loaded(label, settings.timescale_password)
    if settings.discord_webhook_url.get_secret_value() != WEBHOOK:
        raise SystemExit(f"{label} did not load DISCORD_WEBHOOK_URL from the intended source")


def check_bare(label: str, model: type[BaseSettings]) -> None:
    """Load a bare model once and check it read the benchmark's values."""
    settings: Any = model()  # the class is built from the text the child processes run
    check_loaded(label, settings.timescale_password)
    if settings.discord_webhook_url.get_secret_value() != WEBHOOK:
        raise SystemExit(f"{label} did not load DISCORD_WEBHOOK_URL from the intended source")


def time_loads(load: Callable[[], object], number: int, repeat: int) -> Figures:
    """Best and median microseconds per call of `load`, over `repeat` batches of `number`."""
    totals = timeit.repeat(load, number=number, repeat=repeat)
    per_load = [total / number * 1e6 for total in totals]
    return Figures(best=min(per_load), median=statistics.median(per_load))


def in_process(label: str, bare: type[BaseSettings], number: int, repeat: int) -> Comparison:
    """Check both sides load in the current environment and cwd, then time them."""
    check_nova(f"NovaSettings ({label})")
    check_bare(f"{bare.__name__} ({label})", bare)
    nova = time_loads(NovaSettings, number, repeat)
    bare_figures = time_loads(bare, number, repeat)
    return Comparison(label, nova, bare_figures, TARGET_IN_PROCESS)


def bench_env(base: Mapping[str, str], number: int, repeat: int) -> Comparison:
    """In-process, secrets in environment variables, an empty cwd."""
    with environment({**base, **VALID}), working_folder(None):
        return in_process("in-process, env vars", BareSettings, number, repeat)


def bench_dotenv(base: Mapping[str, str], number: int, repeat: int) -> Comparison:
    """In-process, secrets in `.env` in the cwd, none in the environment."""
    with environment(base), working_folder(dotenv_text()):
        return in_process("in-process, .env", BareDotenvSettings, number, repeat)


def child_environ(base: Mapping[str, str]) -> dict[str, str]:
    """The timed processes' environment: the secrets, and bytecode caching allowed.

    With PYTHONDONTWRITEBYTECODE set, a module edited since its .pyc was written is compiled
    again in every process; that would time the compiler on the nova side only.
    """
    env = {**base, **VALID}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def stale_bytecode() -> list[str]:
    """The loaded nova_config modules whose .pyc is missing or older than their source."""
    stale = []
    for name, module in sorted(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if not name.startswith("nova_config") or source is None:
            continue
        try:
            header = Path(importlib.util.cache_from_source(source)).read_bytes()[:16]
        except OSError:
            stale.append(name)
            continue
        info = os.stat(source)
        expected = (int(info.st_mtime) & 0xFFFFFFFF, info.st_size & 0xFFFFFFFF)
        recorded = (int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little"))
        if header[:4] != importlib.util.MAGIC_NUMBER or recorded != expected:
            stale.append(name)
    return stale


def run_once(code: str, env: Mapping[str, str], cwd: Path) -> float:
    """Milliseconds one `python -c code` takes, start to exit."""
    start = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-c", code], env=dict(env), cwd=cwd, check=True, capture_output=True
        )
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stderr.decode(errors="replace"))
        raise
    return (time.perf_counter() - start) * 1e3


def bench_process(base: Mapping[str, str], runs: int, warmup: int) -> Comparison:
    """Whole interpreter processes, nova and bare interleaved, secrets in the environment."""
    env = child_environ(base)
    nova: list[float] = []
    bare: list[float] = []
    with working_folder(None) as cwd:
        for _ in range(warmup):
            run_once(NOVA_CODE, env, cwd)
            run_once(BARE_CODE, env, cwd)
        stale = stale_bytecode()
        if stale:
            print(f"warning: stale or missing bytecode after warm-up: {', '.join(stale)}")
        for _ in range(runs):
            nova.append(run_once(NOVA_CODE, env, cwd))
            bare.append(run_once(BARE_CODE, env, cwd))
    return Comparison(
        "whole process",
        Figures(best=min(nova), median=statistics.median(nova)),
        Figures(best=min(bare), median=statistics.median(bare)),
        TARGET_WHOLE_PROCESS,
    )


def print_header(number: int, repeat: int, runs: int, warmup: int) -> None:
    """Versions and settings of this run."""
    secrets_dir = "/run/secrets"
    state = "present, read by nova" if os.path.isdir(secrets_dir) else "absent"
    print("nova-config boot benchmark")
    print(f"  python             {sys.version.split()[0]} ({sys.executable})")
    print(f"  pydantic           {pydantic.VERSION}")
    print(f"  pydantic-settings  {pydantic_settings.__version__}")
    print(f"  in-process         timeit number={number} repeat={repeat}")
    print(f"  whole process      {runs} runs each, interleaved, after {warmup} warm-ups each")
    print(f"  secrets folder     {secrets_dir} ({state})")
    print("  bytecode           written by the warm-up processes (PYTHONDONTWRITEBYTECODE unset)")
    print()


def print_comparison(result: Comparison, unit: str) -> None:
    """One scenario's figures for both sides, and its ratios."""
    print(result.label)
    for name, figures in (("nova", result.nova), ("bare", result.bare)):
        print(f"  {name}  best {figures.best:9.2f} {unit}  median {figures.median:9.2f} {unit}")
    print(f"  nova/bare  best {result.best_ratio:.3f}  median {result.median_ratio:.3f}")
    print()


def print_summary(results: list[Comparison]) -> None:
    """The ratios against their targets (judged on the medians); informative, never fails."""
    print("summary: nova/bare (target judged on the median ratio)")
    for result in results:
        verdict = "meets" if result.median_ratio <= result.target else "MISSES"
        print(
            f"  {result.label:22} best {result.best_ratio:.3f}  median {result.median_ratio:.3f}"
            f"  target <= {result.target:.2f}  {verdict}"
        )


def parse_args() -> argparse.Namespace:
    """The repetition counts, overridable for a quicker or a steadier run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=2000, help="loads per timeit batch")
    parser.add_argument("--repeat", type=int, default=7, help="timeit batches")
    parser.add_argument("--runs", type=int, default=30, help="processes per side")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up processes per side")
    return parser.parse_args()


def main() -> None:
    """Run the three scenarios and print their figures and the summary."""
    args = parse_args()
    base = clean_environ()
    print_header(args.number, args.repeat, args.runs, args.warmup)
    results = [
        bench_env(base, args.number, args.repeat),
        bench_dotenv(base, args.number, args.repeat),
    ]
    for result in results:
        print_comparison(result, "us")
    process = bench_process(base, args.runs, args.warmup)
    print_comparison(process, "ms")
    results.append(process)
    print_summary(results)


if __name__ == "__main__":
    main()
