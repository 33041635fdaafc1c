"""Time loading secrets from Vault: NovaSettings, the seed's hvac reads, pydantic-settings-vault."""

from __future__ import annotations

import argparse
import gc
import http.client
import importlib.metadata
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import pydantic_settings
import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from nova_config import NovaSettings

# The tests' OpenBao dev server (file audit device, request counting) is reused, not copied.
# mypy finds tests/ when it checks the project as configured, not when given this file alone.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from server_openbao import OpenBao  # type: ignore[import-not-found, unused-ignore]

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQr"
SECRETS: dict[str, str] = {
    "discord_webhook_url": WEBHOOK,
    "timescale_password": "tsdb-pass-0f9e8d",
    "alpaca_api_key": "AKTESTKEY0123456789",
}
# The shared path repeats the password (the environment's path wins) and adds one secret of its own.
SHARED: dict[str, str] = {
    "timescale_password": "tsdb-pass-shared-5c4d",
    "alpaca_secret_key": "alpaca-secret-shared-9f8e7d",
}
MOUNT = "secret"
ENV_PATH = "nova-aetus/development"
SHARED_PATH = "nova-aetus"
KV_PATH = f"{MOUNT}/data/{ENV_PATH}"
TARGET_SPEEDUP = 3.0
SEED_REUSED = "seed per-key, client reused"
NOVA_ONE_PATH = "nova, one path"


def vault_field(key: str) -> Any:
    """A pydantic-settings-vault field: one request to the environment's path for `key`."""
    return Field(json_schema_extra={"vault_secret_path": KV_PATH, "vault_secret_key": key})


class VaultPluginSettings(BaseSettings):
    """The three secrets through pydantic-settings-vault, and from no other source."""

    discord_webhook_url: SecretStr = vault_field("discord_webhook_url")
    timescale_password: SecretStr = vault_field("timescale_password")
    alpaca_api_key: SecretStr = vault_field("alpaca_api_key")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then Vault (token from VAULT_TOKEN, address from VAULT_ADDR)."""
        from pydantic_vault import VaultSettingsSource  # noqa: PLC0415 - a missing one skips a row

        return (init_settings, VaultSettingsSource(settings_cls))


def seed_read(client: hvac.Client) -> dict[str, str]:
    """The seed's get_secret() per key: one KV v2 read of the environment's path for each."""
    values: dict[str, str] = {}
    for key in SECRETS:
        response = client.secrets.kv.v2.read_secret_version(
            path=ENV_PATH, mount_point=MOUNT, raise_on_deleted_version=True
        )
        values[key] = response["data"]["data"][key]
    return values


def seed_new_client() -> dict[str, str]:
    """The seed at boot: a client built from VAULT_ADDR and VAULT_TOKEN, then the reads."""
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    try:
        return seed_read(client)
    finally:
        client.adapter.close()


def bare_read(connection: http.client.HTTPConnection) -> dict[str, str]:
    """The floor: one KV read over a kept-alive http.client connection, no client library."""
    connection.request(
        "GET", f"/v1/{KV_PATH}", headers={"X-Vault-Token": os.environ["VAULT_TOKEN"]}
    )
    data: dict[str, str] = json.loads(connection.getresponse().read())["data"]["data"]
    return {key: data[key] for key in SECRETS}


def values_of(loaded: object) -> dict[str, str]:
    """The secrets a load produced, as plain text; a NovaSettings' must all come from Vault."""
    if isinstance(loaded, dict):
        return {str(name): str(value) for name, value in loaded.items()}
    values = {
        name: value.get_secret_value()
        for name in (*SECRETS, "alpaca_secret_key")
        if isinstance(value := getattr(loaded, name, None), SecretStr)
    }
    if isinstance(loaded, NovaSettings):
        for name in values:
            origin = loaded.source_of(name)
            if origin.source != "vault":
                raise RuntimeError(f"{name} came from {origin.source}, not vault")
    return values


@dataclass(slots=True)
class Case:
    """One way of loading the secrets, what it must return, and what it measured."""

    name: str
    load: Callable[[], object]
    nova_path: str | None = None  # NOVA_VAULT_PATH, for the nova-config cases
    expected: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    times_ms: list[float] = field(default_factory=list)
    requests: int = 0

    @property
    def target_requests(self) -> int | None:
        """One request per distinct path, for nova-config; no target for the others."""
        return None if self.nova_path is None else len(self.nova_path.split(","))

    @property
    def per_load(self) -> float:
        """Requests the server answered per timed load."""
        return self.requests / len(self.times_ms)

    def prepare(self) -> None:
        """Point NovaSettings at this case's paths (outside the timed loads)."""
        if self.nova_path is not None:
            os.environ["NOVA_VAULT_PATH"] = self.nova_path

    def check(self) -> str | None:
        """Load once: None when the seeded values came back, else why not."""
        self.prepare()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeprecationWarning)
                values = values_of(self.load())
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pydantic-vault's errors derive from BaseException
            return f"{type(exc).__name__}: {exc}"
        for message in sorted({str(w.message) for w in caught}):
            print(f"  note: {self.name} warns (silenced while timing): {message}")
        return None if values == self.expected else f"loaded other values: {sorted(values)}"

    def measure(self, server: OpenBao, loads: int, warmup: int) -> None:
        """Untimed loads, then `loads` timed ones; the audit device counts their requests."""
        self.prepare()
        for _ in range(warmup):
            self.load()
        gc.collect()
        gc.disable()  # as timeit does: a collection would be charged to whichever load ran it
        mark = server.audit_mark()
        try:
            for _ in range(loads):
                start = time.perf_counter()
                self.load()
                self.times_ms.append((time.perf_counter() - start) * 1e3)
        finally:
            gc.enable()
        self.requests += len(server.requests_since(mark))


def build_cases(server: OpenBao) -> list[Case]:
    """nova-config's two path layouts, the seed's two styles, pydantic-settings-vault, a floor."""
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    connection = http.client.HTTPConnection(server.addr.removeprefix("http://"))
    two_paths = {**SECRETS, "alpaca_secret_key": SHARED["alpaca_secret_key"]}
    return [
        Case(NOVA_ONE_PATH, NovaSettings, "nova-aetus/{environment}"),
        Case("nova, two paths", NovaSettings, "nova-aetus/{environment},nova-aetus", two_paths),
        Case(SEED_REUSED, lambda: seed_read(client)),
        Case("seed per-key, new client per load", seed_new_client),
        Case("pydantic-settings-vault", VaultPluginSettings),
        Case("floor: one bare HTTP read", lambda: bare_read(connection)),
    ]


def run(server: OpenBao, cases: list[Case], runs: int, warmup: int, rounds: int) -> None:
    """Each case in turn, `rounds` times, so that drift over the run is shared by all of them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for index in range(rounds):
            loads = runs // rounds + (index < runs % rounds)
            for case in cases:
                case.measure(server, loads, warmup)


def print_header(server: OpenBao, args: argparse.Namespace) -> None:
    """Versions and settings of this run."""
    try:
        plugin = importlib.metadata.version("pydantic-settings-vault")
    except importlib.metadata.PackageNotFoundError:
        plugin = "not installed"
    root = server.client()
    try:
        version = root.sys.read_health_status(method="GET")["version"]
    finally:
        root.adapter.close()
    print("nova-config Vault benchmark")
    print(f"  python                   {sys.version.split()[0]} ({sys.executable})")
    print(f"  hvac                     {importlib.metadata.version('hvac')}")
    print(f"  pydantic-settings        {pydantic_settings.__version__}")
    print(f"  pydantic-settings-vault  {plugin}")
    print(f"  server                   OpenBao {version} dev, {server.addr}, root token")
    print(f"  secrets                  {MOUNT}/{ENV_PATH} (3 keys), {MOUNT}/{SHARED_PATH} (2 keys)")
    print(
        f"  loads                    {args.runs} per case in {args.rounds} interleaved blocks,"
        f" each after {args.warmup} untimed loads"
    )
    print("  timing                   time.perf_counter per load, gc off during each block")
    print("  requests                 counted by the server's file audit device")
    print()


def print_table(cases: list[Case], reference: Case) -> None:
    """Requests and times per load; case/nova is the case's time over nova one path's."""
    print(f"{'case':34} {'requests/load':>13} {'median ms':>10} {'best ms':>8}  case/nova")
    ref_median = statistics.median(reference.times_ms)
    ref_best = min(reference.times_ms)
    for case in cases:
        median, best = statistics.median(case.times_ms), min(case.times_ms)
        ratios = f"median {median / ref_median:5.2f}  best {best / ref_best:5.2f}"
        print(f"{case.name:34} {case.per_load:13.2f} {median:10.3f} {best:8.3f}  {ratios}")
    print("(case/nova above 1 means nova one path is that many times faster)")
    print()


def print_summary(cases: list[Case], reference: Case) -> None:
    """The targets, judged on this run; informative, never fails."""
    print("summary: targets")
    for case in cases:
        if case.target_requests is not None:
            verdict = "meets" if case.per_load == case.target_requests else "MISSES"
            print(
                f"  {case.name:34} requests/load {case.per_load:.2f}"
                f"  target = {case.target_requests} (distinct paths)  {verdict}"
            )
    for seed in (case for case in cases if case.name == SEED_REUSED):
        speedup = statistics.median(seed.times_ms) / statistics.median(reference.times_ms)
        verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
        print(
            f"  {SEED_REUSED} / {NOVA_ONE_PATH}, median {speedup:.2f}"
            f"  target >= {TARGET_SPEEDUP:.1f}  {verdict}"
        )


def prepare_environ(home: Path, server: OpenBao) -> None:
    """Only this run's VAULT_*/NOVA_* variables, and a HOME without a ~/.vault-token."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_", "NOVA_")):
            del os.environ[name]
    os.environ.update(
        HOME=str(home),
        VAULT_ADDR=server.addr,
        VAULT_TOKEN=server.root_token,
        NOVA_SOURCES="vault",  # no other source can supply a value
        NOVA_ON_SOURCE_ERROR="fail",
    )


def seed(server: OpenBao) -> None:
    """Write both paths (the server fixture waits until `secret/` is KV v2 before it returns)."""
    server.write_kv2(ENV_PATH, SECRETS)
    server.write_kv2(SHARED_PATH, SHARED)


def parse_args() -> argparse.Namespace:
    """The repetition counts, overridable for a quicker or a steadier run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed loads per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed loads before each block")
    parser.add_argument("--rounds", type=int, default=4, help="blocks per case, interleaved")
    return parser.parse_args()


def main() -> int:
    """Start the server, seed it, measure every case that loads, print the figures."""
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="nova-bench-vault-") as folder:
        try:
            server = OpenBao(Path(folder) / "openbao")
        except (OSError, RuntimeError, pytest.fail.Exception) as exc:
            print(f"the OpenBao dev server did not start: {exc}", file=sys.stderr)
            return 1
        previous = Path.cwd()
        try:
            home = Path(folder) / "home"
            home.mkdir()
            os.chdir(home)  # no .env or secrets folder of the caller's is near
            prepare_environ(home, server)
            seed(server)
            print_header(server, args)
            cases = []
            for case in build_cases(server):
                problem = case.check()
                if problem is None:
                    cases.append(case)
                else:
                    print(f"skipped {case.name}: {problem}\n")
            reference = cases[0] if cases and cases[0].name == NOVA_ONE_PATH else None
            if reference is None:
                print(f"{NOVA_ONE_PATH} could not load: nothing to compare")
                return 0
            run(server, cases, args.runs, args.warmup, args.rounds)
            print_table(cases, reference)
            print_summary(cases, reference)
        finally:
            os.chdir(previous)
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
