"""The never-leak guarantee on the paths of the safety fixes, proven with random canaries.

Undecodable credential files, a `.env` that is a FIFO, a load that fails on a later source (with
the locals an error tracker records), a password in AWS_ENDPOINT_URL, and validator messages
that quote a secret in another letter case: the canary shows in no output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nova_config import ENVIRONMENTS, NovaSettings, SecretSettings, SettingsError, SourceConfigError
from nova_config.sources import aws, vault_logins
from tests.support.data import VALID
from tests.support.helpers import write
from tests.support.leaks import (
    PREFIX,
    assert_clean,
    assert_no_run,
    chain_surfaces,
    debug_logs,
    error_surfaces,
    has_debug_record,
    load,
    locals_surfaces,
    log_surfaces,
    outcome_surfaces,
    run_cli,
)
from tests.support.loopback import HOST, free_port
from tests.support.moto import MotoServer, boto_environ
from tests.support.openbao import OpenBao
from tests.support.safety import (
    LIMIT,
    QUOTING,
    QuotingAfter,
    QuotingBefore,
    QuotingWrapped,
    release_fifos,
    within,
)
from tests.support.scenarios import QUOTES, TAILS, Plant, Scenario, dotenv_value, scenarios

EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# For the tests parametrized by situation, so that every situation gets its examples.
FEW_EXAMPLES = settings(EXAMPLES, max_examples=6)


@contextlib.contextmanager
def example_folder(environment: str) -> Iterator[tuple[Path, pytest.MonkeyPatch]]:
    """A scratch folder as the working folder and HOME, and an environment undone afterwards."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        root = Path(tmp)
        mp.chdir(root)
        mp.setattr(sys, "path", list(sys.path))  # `check` puts the working folder on it
        mp.setenv("HOME", str(root / "home"))
        mp.setenv("NOVA_SECRETS_DIR", str(root / "secrets"))
        mp.setenv("NOVA_ENV", environment)
        if environment == "production":
            mp.setenv("NOVA_ALLOW_DOTENV", "1")
        yield root, mp


def failure_surfaces(outcome: NovaSettings | SettingsError) -> dict[str, str]:
    """The load's surfaces, and for a failed one its chain and the locals of its frames too."""
    surfaces = outcome_surfaces(outcome, "")
    if isinstance(outcome, SettingsError):
        surfaces |= chain_surfaces(outcome) | locals_surfaces(outcome)
    return surfaces


# --- credential files that are not UTF-8 ---------------------------------------------------------

BAD_BYTES = st.sampled_from([b"\xff", b"\xfe", b"\xc3\x28", b"\x80", b"\xed\xa0\x80"])


@EXAMPLES
@given(
    tail=TAILS,
    bad=BAD_BYTES,
    layout=st.sampled_from(["canary-then-bad", "bad-then-canary", "between-two"]),
    where=st.sampled_from(["token-file", "kubernetes-jwt"]),
    environment=st.sampled_from(ENVIRONMENTS),
)
def test_canary_in_an_undecodable_vault_credential_file_never_leaks(
    tail: str, bad: bytes, layout: str, where: str, environment: str
) -> None:
    """~/.vault-token or the JWT, not UTF-8 around the canary: a SourceConfigError naming the
    file, with no token bytes in it, its chain, its frames' locals, logs or the CLI."""
    canary = PREFIX + tail
    event(f"{where}, {layout}")
    token = canary.encode()
    content = {
        "canary-then-bad": token + bad,
        "bad-then-canary": bad + token,
        "between-two": token + bad + token,
    }[layout]
    with example_folder(environment) as (root, mp), debug_logs() as records:
        for name, value in VALID.items():
            mp.setenv(name, value)
        mp.setenv("VAULT_ADDR", f"http://{HOST}:{free_port()}")
        mp.setenv("NOVA_VAULT_RETRIES", "0")
        if where == "token-file":
            path = root / "home" / ".vault-token"
        else:
            path = root / "serviceaccount" / "token"
            mp.setenv("VAULT_K8S_ROLE", "nova-app")
            mp.setenv("VAULT_K8S_TOKEN_PATH", str(path))
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        outcome = load()
        assert isinstance(outcome, SourceConfigError), f"expected SourceConfigError: {outcome!r}"
        assert str(path) in str(outcome)
        code, output = run_cli("check")
        assert code == 1
        assert str(path) in output
        surfaces = failure_surfaces(outcome) | {"check output": output} | log_surfaces(records)
        assert_clean(canary, surfaces)


# --- a .env that is a FIFO, or a regular file ----------------------------------------------------


@contextlib.contextmanager
def feeding(fifo: Path, data: bytes) -> Iterator[None]:
    """A writer that hands `data` to whoever opens the FIFO for reading, as often as asked."""
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet
                stop.wait(0.005)
                continue
            try:
                os.write(fd, data)
            except OSError:
                pass  # the reader closed it without reading: the refusal under test
            finally:
                os.close(fd)

    thread = threading.Thread(target=feed, name="fifo-feeder", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5.0)


DOTENV_NAMES = {"default": ".env", "NOVA_ENV_FILE": "app.env", "environment-layer": ".env.{env}"}


@EXAMPLES
@given(
    tail=TAILS,
    fifo=st.booleans(),
    which=st.sampled_from(sorted(DOTENV_NAMES)),
    quote=QUOTES,
    environment=st.sampled_from(ENVIRONMENTS),
)
def test_canary_in_a_dotenv_fifo_or_regular_file_never_leaks(
    tail: str, fifo: bool, which: str, quote: str, environment: str
) -> None:
    """A regular `.env` holding the canary is read; a FIFO one (fed the canary by a writer) is
    refused without hanging; neither shows the canary anywhere."""
    canary = PREFIX + tail
    event(f"{'FIFO' if fifo else 'regular'} {which}")
    key = f"AK{canary}"
    text = f"ALPACA_API_KEY={dotenv_value(key, quote)}\n"
    with example_folder(environment) as (root, mp), debug_logs() as records:
        for name in ("DISCORD_WEBHOOK_URL", "TIMESCALE_PASSWORD"):
            mp.setenv(name, VALID[name])
        path = root / DOTENV_NAMES[which].format(env=environment)
        if which == "NOVA_ENV_FILE":
            mp.setenv("NOVA_ENV_FILE", str(path))
        if not fifo:
            write(path, text)
            outcome = load()
            assert isinstance(outcome, NovaSettings), f"the regular .env did not load: {outcome}"
            assert outcome.alpaca_api_key.get_secret_value() == key
            assert outcome.source_of("alpaca_api_key").source == "dotenv"
            code, output = run_cli("check")
            assert code == 0
            assert has_debug_record(records)
        else:
            os.mkfifo(path)
            with feeding(path, text.encode()):
                outcome = within(LIMIT, load, unblock=release_fifos(root))
                code, output = within(LIMIT, lambda: run_cli("check"), unblock=release_fifos(root))
            assert isinstance(outcome, SettingsError), "a FIFO .env was read"
            assert any(
                str(path) in p.message and "is not a regular file" in p.message
                for p in outcome.problems
            ), str(outcome)
            assert code == 1
        surfaces = failure_surfaces(outcome) | {"check output": output} | log_surfaces(records)
        assert_clean(canary, surfaces)


# --- a load that fails on a later source ---------------------------------------------------------


class Stores:
    """The session's servers, for the failures that need one."""

    def __init__(self, openbao: OpenBao, moto: MotoServer) -> None:
        self.openbao = openbao
        self.moto = moto


# Each failure sets up a store after env and files that breaks the load; it returns the error
# class and words the load must report.
Failure = Callable[
    [st.DataObject, Stores, Path, pytest.MonkeyPatch, str], tuple[type[SettingsError], str]
]


def aws_variables(mp: pytest.MonkeyPatch, endpoint: str) -> None:
    mp.setenv("NOVA_AWS_SECRET_ID", f"leak-{uuid.uuid4().hex[:10]}")
    for name, value in boto_environ(endpoint).items():
        mp.setenv(name, value)


def aws_profile_missing(
    data: st.DataObject, stores: Stores, root: Path, mp: pytest.MonkeyPatch, canary: str
) -> tuple[type[SettingsError], str]:
    del data, canary
    aws_variables(mp, stores.moto.url)
    empty = write(root / "aws-config", "")
    mp.setenv("AWS_CONFIG_FILE", str(empty))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    mp.setenv("AWS_PROFILE", "nova-no-such-profile")
    return SourceConfigError, "AWS_PROFILE"


BAD_NUMBERS = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "abc", ""])


def aws_bad_number(
    data: st.DataObject, stores: Stores, root: Path, mp: pytest.MonkeyPatch, canary: str
) -> tuple[type[SettingsError], str]:
    del root, canary
    aws_variables(mp, stores.moto.url)
    variable = data.draw(st.sampled_from(["NOVA_AWS_TIMEOUT", "NOVA_AWS_DEADLINE"]))
    mp.setenv(variable, data.draw(BAD_NUMBERS))
    return SourceConfigError, variable


def vault_bad_number(
    data: st.DataObject, stores: Stores, root: Path, mp: pytest.MonkeyPatch, canary: str
) -> tuple[type[SettingsError], str]:
    del root
    mp.setenv("VAULT_ADDR", stores.openbao.addr)
    mp.setenv("VAULT_TOKEN", f"s.{canary}")
    variable = data.draw(st.sampled_from(["NOVA_VAULT_TIMEOUT", "NOVA_VAULT_DEADLINE"]))
    mp.setenv(variable, data.draw(BAD_NUMBERS))
    return SourceConfigError, variable


def vault_bad_addr(
    data: st.DataObject, stores: Stores, root: Path, mp: pytest.MonkeyPatch, canary: str
) -> tuple[type[SettingsError], str]:
    del stores, root
    template = data.draw(
        st.sampled_from(["http://nova:{c}@[::1", "http://nova:{c}@127.0.0.1:99999", "http://[::1"])
    )
    mp.setenv("VAULT_ADDR", template.format(c=canary))
    mp.setenv("VAULT_TOKEN", f"s.{canary}")
    return SourceConfigError, "VAULT_ADDR"


def vault_denied(
    data: st.DataObject, stores: Stores, root: Path, mp: pytest.MonkeyPatch, canary: str
) -> tuple[type[SettingsError], str]:
    """Path one read, path two refused (403), and a policy that fails the load."""
    del data, root
    server = stores.openbao
    base = f"leak-{uuid.uuid4().hex[:10]}"
    values = {
        "discord_webhook_url": f"https://discord.com/api/webhooks/123456789012345678/{canary}",
        "timescale_password": f"vault-{canary}",
        "alpaca_api_key": f"AK{canary}",
        "alpaca_secret_key": f"SK{canary}",
    }
    server.write_kv2(f"{base}/one", values)
    server.write_kv2(f"{base}/two", values)
    policy = server.policy(f"{base}-one-only", [f"secret/data/{base}/one"])
    mp.setenv("VAULT_ADDR", server.addr)
    mp.setenv("VAULT_TOKEN", server.token([policy]))
    mp.setenv("NOVA_VAULT_PATH", f"{base}/one,{base}/two")
    mp.setenv("NOVA_ON_SOURCE_ERROR", "fail")
    return SettingsError, "permission denied"


FAILURES: dict[str, Failure] = {
    f.__name__: f
    for f in (aws_profile_missing, aws_bad_number, vault_bad_number, vault_bad_addr, vault_denied)
}


def without_keyword_arguments(scenario: Scenario) -> Scenario:
    """The scenario with every value planted in a store, none passed as a keyword argument."""

    def stored(plant: Plant) -> Plant:
        return dataclasses.replace(plant, slots=plant.slots - {"init"} or frozenset({"env"}))

    return dataclasses.replace(scenario, plants=[stored(p) for p in scenario.plants])


@FEW_EXAMPLES
@pytest.mark.parametrize("failure", sorted(FAILURES))
@given(data=st.data())
def test_canary_values_never_show_in_frame_locals_when_a_later_source_fails(
    data: st.DataObject, failure: str, openbao: OpenBao, moto_server: MotoServer
) -> None:
    """Values from env, files and Vault, then a later store that fails the load: the canary
    shows neither in the error nor in a capture_locals traceback or any frame local."""
    scenario = data.draw(scenarios("ok").map(without_keyword_arguments), label="scenario")
    event(scenario.environment)
    vault_logins.forget_logins()
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        root = Path(tmp)
        assert scenario.apply(root, mp) == {}
        mp.setenv("HOME", str(root / "home"))
        stores = Stores(openbao, moto_server)
        expected, words = FAILURES[failure](data, stores, root, mp, scenario.canary)
        try:
            outcome = load()
        finally:
            aws.close_clients()
            vault_logins.forget_logins()
        assert isinstance(outcome, expected), f"expected {expected.__name__}, got {outcome!r}"
        assert words in str(outcome)
        assert_clean(scenario.canary, failure_surfaces(outcome))


# --- a password in AWS_ENDPOINT_URL --------------------------------------------------------------

ENDPOINTS = (
    "http://user:{c}@bad host/",  # not a URL boto3 can use: a configuration error
    "http://user:{c}@[::1/",
    "http://user:{c}@127.0.0.1:99999/",
    "http://{c}@127.0.0.1:{closed}/",
    "http://user:{c}@127.0.0.1:{closed}/",
    "http://user:{c}@127.0.0.1:{moto}/",
)


@FEW_EXAMPLES
@pytest.mark.parametrize("template", ENDPOINTS)
@given(tail=TAILS, environment=st.sampled_from(ENVIRONMENTS))
def test_canary_as_the_aws_endpoint_password_never_leaks(
    template: str, tail: str, environment: str, moto_server: MotoServer
) -> None:
    """A password in AWS_ENDPOINT_URL never shows, whether the URL is unusable, unreachable or
    moto's own; an unusable one is a SourceConfigError naming AWS_ENDPOINT_URL."""
    canary = PREFIX + tail
    event(environment)
    with example_folder(environment) as (root, mp), debug_logs() as records:
        write(root / ".env", "".join(f"{k}={v}\n" for k, v in VALID.items()))
        endpoint = template.format(c=canary, closed=free_port(), moto=moto_server.port)
        aws_variables(mp, endpoint)
        mp.setenv("NOVA_AWS_TIMEOUT", "0.5")
        mp.setenv("NOVA_AWS_DEADLINE", "3")
        try:
            outcome = load()
            code, output = run_cli("check")
        finally:
            aws.close_clients()
        if "bad host" in template:
            assert isinstance(outcome, SourceConfigError), f"expected an error: {outcome!r}"
            assert "AWS_ENDPOINT_URL" in str(outcome)
        assert code == (1 if isinstance(outcome, SettingsError) else 0)
        # botocore's own DEBUG lines echo its configuration; nova-config's lines are checked.
        ours = [r for r in records if r.name.startswith("nova_config")]
        surfaces = failure_surfaces(outcome) | {"check output": output} | log_surfaces(ours)
        assert_clean(canary, surfaces)


# --- validator messages that quote a secret ------------------------------------------------------

CASES: dict[str, Callable[[str], str]] = {
    "as-is": lambda s: s,
    "lower": str.lower,
    "upper": str.upper,
    "swapcase": str.swapcase,
    "title": str.title,
    "capitalize": str.capitalize,
    "casefold": str.casefold,
}
WRAPS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "repr": repr,
    "json": json.dumps,
    "angle": lambda s: f"<{s}>",
}
CLASSES: dict[str, type[SecretSettings]] = {
    "after": QuotingAfter,
    "before": QuotingBefore,
    "Secret[str]": QuotingWrapped,
}


# Every run of 6 of the canary is searched for, so its tail must share none with ordinary output
# ("location", "default"): hex digits hashed from a drawn UUID, some letters upper-cased.
CASED_TAILS = st.builds(
    lambda tag, upper: (
        "Zq"
        + "".join(
            c.upper() if up else c
            for c, up in zip(hashlib.sha256(tag.bytes).hexdigest()[:16], upper, strict=True)
        )
    ),
    st.uuids(),
    st.lists(st.booleans(), min_size=16, max_size=16),
)


@st.composite
def quotings(draw: st.DrawFn) -> tuple[str, Callable[[str], str]]:
    """How a careless validator quotes the value: a letter case, the whole or a run of 6+
    characters of it, stripped, and wrapped in repr, JSON or brackets."""
    case, wrap = draw(st.sampled_from(sorted(CASES))), draw(st.sampled_from(sorted(WRAPS)))
    whole = draw(st.booleans())
    start, length = draw(st.integers(0, 30)), draw(st.integers(6, 30))

    def quote(value: str) -> str:
        core = value.strip()
        if not whole:
            begin = min(start, len(core) - 6)
            core = core[begin : begin + length]
        return WRAPS[wrap](CASES[case](core))

    part = "whole" if whole else f"run[{start}:+{length}]"
    return f"{wrap}({case}({part}))", quote


@EXAMPLES
@given(
    tail=CASED_TAILS,
    quoting=quotings(),
    mode=st.sampled_from(sorted(CLASSES)),
    padding=st.sampled_from(["", " ", "\t", "\n", "  \n"]),
)
def test_canary_quoted_by_a_validator_in_any_case_never_leaks(
    tail: str, quoting: tuple[str, Callable[[str], str]], mode: str, padding: str
) -> None:
    """A subclass validator quoting the secret in any letter case, whole or in part: no run of
    6 characters of it shows in the error, in any case."""
    canary = PREFIX + tail
    label, quote = quoting
    event(f"{mode}: {label}")
    # Only a "before" validator sees surrounding whitespace: after it, the base class refuses it.
    raw = padding + canary + padding if mode == "before" else canary
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("API_TOKEN", raw)
        mp.setitem(QUOTING, "form", quote)
        try:
            CLASSES[mode]()
        except SettingsError as exc:
            error: SettingsError = exc
        else:
            pytest.fail("the validator always raises, yet the settings loaded")
    assert "is revoked" in str(error)
    assert_no_run(tail, error_surfaces(error))  # the test's own name holds "canary"
