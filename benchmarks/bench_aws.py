"""Time loading secrets from AWS Secrets Manager: NovaSettings, the seed's boto3 reads, and
pydantic-settings' AWSSecretsManagerSettingsSource, against a local moto server."""

from __future__ import annotations

import argparse
import gc
import http.client
import importlib.metadata
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pydantic_settings
from pydantic import SecretStr
from pydantic_settings import (
    AWSSecretsManagerSettingsSource,
    BaseSettings,
    PydanticBaseSettingsSource,
)

from nova_config import NovaSettings

# The tests' moto server and counting forwarder are reused, not copied.
# mypy finds tests/ when it checks the project as configured, not when given this file alone.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from server_moto import (  # type: ignore[import-not-found, unused-ignore]
    FAKE_KEY_ID,
    FAKE_SECRET_KEY,
    REGION,
    Forwarder,
    MotoServer,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQr"
SECRETS: dict[str, str] = {
    "discord_webhook_url": WEBHOOK,
    "timescale_password": "tsdb-pass-0f9e8d",
    "alpaca_api_key": "AKTESTKEY0123456789",
}
# The shared secret repeats the password (the environment's secret wins) and adds one of its own.
SHARED: dict[str, str] = {
    "timescale_password": "tsdb-pass-shared-5c4d",
    "alpaca_secret_key": "alpaca-secret-shared-9f8e7d",
}
ENV_ID = "nova-aetus/development"
SHARED_ID = "nova-aetus/shared"
BARE_HEADERS = {
    "X-Amz-Target": "secretsmanager.GetSecretValue",
    "Content-Type": "application/x-amz-json-1.1",
    # moto picks the service and region from the credential scope; the signature is not checked.
    "Authorization": f"AWS4-HMAC-SHA256 Credential={FAKE_KEY_ID}/20260101/{REGION}/"
    "secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
}
TARGET_SPEEDUP = 2.5
SEED_REUSED = "seed per-field, client reused"
NOVA_ONE_ID = "nova, one id"


class PlainAwsSettings(BaseSettings):
    """The three secrets through pydantic-settings' own AWS source, and from no other source."""

    discord_webhook_url: SecretStr
    timescale_password: SecretStr
    alpaca_api_key: SecretStr

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the secret; the source builds its boto3 client right here,
        once per instantiation (region and endpoint from AWS_DEFAULT_REGION, AWS_ENDPOINT_URL)."""
        return (init_settings, AWSSecretsManagerSettingsSource(settings_cls, secret_id=ENV_ID))


def get_secret(client: SecretsManagerClient, key: str) -> str:
    """The seed's get_secret(): one GetSecretValue of the environment's secret for one key."""
    response = client.get_secret_value(SecretId=ENV_ID)
    value: str = json.loads(response["SecretString"])[key]
    return value


def seed_read(client: SecretsManagerClient) -> dict[str, str]:
    """The seed at boot: get_secret() once per field, so one call per field."""
    return {key: get_secret(client, key) for key in SECRETS}


def seed_new_client(session: boto3.session.Session) -> dict[str, str]:
    """The same with the client built inside, as the seed's get_secret() does: one per load."""
    client = session.client("secretsmanager")
    try:
        return seed_read(client)
    finally:
        client.close()


def bare_read(connection: http.client.HTTPConnection) -> dict[str, str]:
    """The floor: one GetSecretValue as a bare http.client POST, unsigned (moto does not check
    signatures until IAM is enforced), no SDK; the forwarder closes the connection after it."""
    connection.request("POST", "/", json.dumps({"SecretId": ENV_ID}), BARE_HEADERS)
    data: dict[str, str] = json.loads(json.loads(connection.getresponse().read())["SecretString"])
    return {key: data[key] for key in SECRETS}


def values_of(loaded: object) -> dict[str, str]:
    """The secrets a load produced, as plain text; a NovaSettings' must all come from AWS."""
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
            if origin.source != "aws":
                raise RuntimeError(f"{name} came from {origin.source}, not aws")
    return values


@dataclass(slots=True)
class Case:
    """One way of loading the secrets, what it must return, and what it measured."""

    name: str
    load: Callable[[], object]
    nova_ids: str | None = None  # NOVA_AWS_SECRET_ID, for the nova-config cases
    expected: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    times_ms: list[float] = field(default_factory=list)
    calls: int = 0
    operations: Counter[str] = field(default_factory=Counter)

    @property
    def target_calls(self) -> int | None:
        """One call per distinct secret id, for nova-config; no target for the others."""
        return None if self.nova_ids is None else len(self.nova_ids.split(","))

    @property
    def per_load(self) -> float:
        """Secrets Manager calls the forwarder saw per timed load."""
        return self.calls / len(self.times_ms)

    def prepare(self) -> None:
        """Point NovaSettings at this case's secret ids (outside the timed loads)."""
        if self.nova_ids is not None:
            os.environ["NOVA_AWS_SECRET_ID"] = self.nova_ids

    def check(self) -> str | None:
        """Load once: None when the created values came back, else why not."""
        self.prepare()
        try:
            values = values_of(self.load())
        except Exception as exc:  # any failure skips the row, with its reason
            return f"{type(exc).__name__}: {exc}"
        return None if values == self.expected else f"loaded other values: {sorted(values)}"

    def measure(self, forwarder: Forwarder, loads: int, warmup: int) -> None:
        """Untimed loads, then `loads` timed ones; the forwarder counts their calls."""
        self.prepare()
        for _ in range(warmup):
            self.load()
        gc.collect()
        gc.disable()  # as timeit does: a collection would be charged to whichever load ran it
        mark = len(forwarder.requests)
        try:
            for _ in range(loads):
                start = time.perf_counter()
                self.load()
                self.times_ms.append((time.perf_counter() - start) * 1e3)
        finally:
            gc.enable()
        seen = forwarder.requests[mark:]
        self.calls += len(seen)
        self.operations.update(operation for operation, _ in seen)


def build_cases(forwarder: Forwarder) -> list[Case]:
    """nova-config's two id layouts, the seed's two styles, pydantic-settings' source, a floor."""
    session = boto3.session.Session()
    client = session.client("secretsmanager")
    connection = http.client.HTTPConnection(forwarder.url.removeprefix("http://"))
    two_ids = {**SECRETS, "alpaca_secret_key": SHARED["alpaca_secret_key"]}
    return [
        Case(NOVA_ONE_ID, NovaSettings, "nova-aetus/{environment}"),
        Case("nova, two ids", NovaSettings, f"nova-aetus/{{environment}},{SHARED_ID}", two_ids),
        Case(SEED_REUSED, lambda: seed_read(client)),
        Case("seed per-field, new client per load", lambda: seed_new_client(session)),
        Case("pydantic-settings AWS source", PlainAwsSettings),
        Case("floor: one bare HTTP call", lambda: bare_read(connection)),
    ]


def run(forwarder: Forwarder, cases: list[Case], runs: int, warmup: int, rounds: int) -> None:
    """Each case in turn, `rounds` times, so that drift over the run is shared by all of them."""
    for index in range(rounds):
        loads = runs // rounds + (index < runs % rounds)
        for case in cases:
            case.measure(forwarder, loads, warmup)


def print_header(server: MotoServer, forwarder: Forwarder, args: argparse.Namespace) -> None:
    """Versions and settings of this run."""
    print("nova-config AWS Secrets Manager benchmark")
    print(f"  python                   {sys.version.split()[0]} ({sys.executable})")
    print(
        f"  boto3 / botocore         {boto3.__version__} / {importlib.metadata.version('botocore')}"
    )
    print(f"  pydantic-settings        {pydantic_settings.__version__}")
    print(f"  server                   moto {importlib.metadata.version('moto')}, {server.url}")
    print(f"  forwarder                {forwarder.url} (counts calls; one connection per call)")
    print(f"  secrets                  {ENV_ID} (3 keys), {SHARED_ID} (2 keys)")
    print(
        f"  loads                    {args.runs} per case in {args.rounds} interleaved blocks,"
        f" each after {args.warmup} untimed loads"
    )
    print("  timing                   time.perf_counter per load, gc off during each block")
    print()


def print_table(cases: list[Case], reference: Case) -> None:
    """Calls and times per load; case/nova is the case's time over nova one id's."""
    print(f"{'case':36} {'calls/load':>10} {'median ms':>10} {'best ms':>8}  case/nova")
    ref_median = statistics.median(reference.times_ms)
    ref_best = min(reference.times_ms)
    for case in cases:
        median, best = statistics.median(case.times_ms), min(case.times_ms)
        ratios = f"median {median / ref_median:5.2f}  best {best / ref_best:5.2f}"
        print(f"{case.name:36} {case.per_load:10.2f} {median:10.3f} {best:8.3f}  {ratios}")
    print("(case/nova above 1 means nova one id is that many times faster)")
    others = {
        case.name: sorted(op for op in case.operations if op != "GetSecretValue") for case in cases
    }
    for name, operations in others.items():
        if operations:
            print(f"  note: {name} also called {', '.join(operations)}")
    print()


def print_summary(cases: list[Case], reference: Case) -> None:
    """The targets, judged on this run; informative, never fails."""
    print("summary: targets")
    for case in cases:
        if case.target_calls is not None:
            verdict = "meets" if case.per_load == case.target_calls else "MISSES"
            print(
                f"  {case.name:36} calls/load {case.per_load:.2f}"
                f"  target = {case.target_calls} (distinct ids)  {verdict}"
            )
    for seed in (case for case in cases if case.name == SEED_REUSED):
        speedup = statistics.median(seed.times_ms) / statistics.median(reference.times_ms)
        verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
        print(
            f"  {SEED_REUSED} / {NOVA_ONE_ID}, median {speedup:.2f}"
            f"  target >= {TARGET_SPEEDUP:.1f}  {verdict}"
        )


def prepare_environ(home: Path, forwarder: Forwarder) -> None:
    """Only this run's AWS_*/NOVA_* variables, and a HOME without a ~/.aws."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "NOVA_", "VAULT_", "BAO_")):
            del os.environ[name]
    os.environ.update(
        HOME=str(home),
        AWS_ENDPOINT_URL=forwarder.url,
        AWS_ACCESS_KEY_ID=FAKE_KEY_ID,
        AWS_SECRET_ACCESS_KEY=FAKE_SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        NOVA_SOURCES="aws",  # no other source can supply a value
        NOVA_ON_SOURCE_ERROR="fail",
    )


def create_secrets(server: MotoServer) -> None:
    """Both secrets, written straight to moto (not through the forwarder, so not counted)."""
    admin = server.secrets()
    admin.create_secret(Name=ENV_ID, SecretString=json.dumps(SECRETS))
    admin.create_secret(Name=SHARED_ID, SecretString=json.dumps(SHARED))


def parse_args() -> argparse.Namespace:
    """The repetition counts, overridable for a quicker or a steadier run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed loads per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed loads before each block")
    parser.add_argument("--rounds", type=int, default=4, help="blocks per case, interleaved")
    return parser.parse_args()


def main() -> int:
    """Start moto and the forwarder, create the secrets, measure every case that loads."""
    args = parse_args()
    # moto's server logs each request line through werkzeug.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        server = MotoServer()
    except (OSError, RuntimeError) as exc:
        print(f"the moto server did not start: {exc}", file=sys.stderr)
        return 1
    try:
        forwarder = Forwarder(server)
    except OSError as exc:
        server.stop()
        print(f"the counting forwarder did not start: {exc}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="nova-bench-aws-") as folder:
        previous = Path.cwd()
        try:
            home = Path(folder) / "home"
            home.mkdir()
            os.chdir(home)  # no .env or secrets folder of the caller's is near
            prepare_environ(home, forwarder)
            create_secrets(server)
            print_header(server, forwarder, args)
            cases = []
            for case in build_cases(forwarder):
                problem = case.check()
                if problem is None:
                    cases.append(case)
                else:
                    print(f"skipped {case.name}: {problem}\n")
            reference = cases[0] if cases and cases[0].name == NOVA_ONE_ID else None
            if reference is None:
                print(f"{NOVA_ONE_ID} could not load: nothing to compare")
                return 0
            run(forwarder, cases, args.runs, args.warmup, args.rounds)
            print_table(cases, reference)
            print_summary(cases, reference)
        finally:
            os.chdir(previous)
            forwarder.stop()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
