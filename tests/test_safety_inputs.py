"""Safety of a load's inputs: a bad configuration, a file that blocks, a failed load's frames.

Each bad input must end as one `SettingsError` that names what is wrong, in bounded time, with
no credential or secret in its message, its chained exceptions, or the locals of its frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from nova_config import (
    NovaSettings,
    SecretSettings,
    SettingsError,
    SourceConfigError,
)
from nova_config.cli import main
from nova_config.sources.base import LoadContext
from nova_config.sources.vault import VaultSource
from tests.support.helpers import point_at, write
from tests.support.leaks import (
    CANARY,
    CANARY_WEBHOOK,
    assert_no_canary,
    assert_no_run,
    chain_surfaces,
    error_surfaces,
    load,
    locals_surfaces,
    plant_everywhere,
    run_cli,
)
from tests.support.loopback import HOST, free_port
from tests.support.moto import FAKE_KEY_ID, REGION, MotoServer
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

pytestmark = pytest.mark.usefixtures("keep_sys_path")

CHILD_LIMIT = 30.0  # a child process imports pydantic first
MiB = 1024 * 1024


# --- helpers: the surfaces of a failed load, planted secrets, unused addresses -------------------


def everything_about(exc: SettingsError) -> dict[str, str]:
    """Every surface of a failed load: the error's own, its chain's, and its frames' locals."""
    return error_surfaces(exc) | chain_surfaces(exc) | locals_surfaces(exc)


def plant_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The three required secrets, valid, each carrying the canary, in the environment."""
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", CANARY_WEBHOOK)
    monkeypatch.setenv("TIMESCALE_PASSWORD", CANARY)
    monkeypatch.setenv("ALPACA_API_KEY", "AK" + CANARY)


def set_env(monkeypatch: pytest.MonkeyPatch, variables: Mapping[str, str | None]) -> None:
    """Set (or, for None, unset) each variable."""
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def unused_addr(scheme: str = "http", userinfo: str = "") -> str:
    """An address on the loopback interface where nothing listens."""
    return f"{scheme}://{userinfo}{HOST}:{free_port()}"


# --- bad configuration: one SourceConfigError, naming the variable or file ---------------------


def vault_env(**variables: str | None) -> dict[str, str | None]:
    """Vault on an unused loopback port (the canary as the address's password), a canary
    token, and no retry; then `variables`."""
    return {
        "VAULT_ADDR": unused_addr(userinfo=f"nova:{CANARY}@"),
        "VAULT_TOKEN": f"s.{CANARY}",
        "NOVA_VAULT_RETRIES": "0",
        "NOVA_VAULT_DEADLINE": "2",
    } | variables


def aws_env(**variables: str | None) -> dict[str, str | None]:
    """AWS on an unused loopback port, with the canary as the secret key; then `variables`."""
    return {
        "NOVA_AWS_SECRET_ID": "nova/safety",
        "AWS_ENDPOINT_URL": unused_addr(),
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": CANARY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "NOVA_AWS_TIMEOUT": "0.5",
        "NOVA_AWS_DEADLINE": "2",
    } | variables


def bad_file(path: Path, kind: str, content: bytes) -> Path:
    """Make `path` a file that is not UTF-8 (holding `content`), a FIFO, or a folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "not-utf8":
        path.write_bytes(content)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
        (path / "token").write_bytes(content)
    return path


# Each case: (variables to set, what the message must name), built in the test's folder.
Case = Callable[[Path], tuple[dict[str, str | None], str]]


def tls_file(variable: str) -> Case:
    def case(tmp: Path) -> tuple[dict[str, str | None], str]:
        missing = str(tmp / "no-such" / variable.lower())
        if variable == "VAULT_CLIENT_KEY":
            cert = write(tmp / "client.pem", "-----BEGIN CERTIFICATE-----\n")
            extra = {"VAULT_CLIENT_CERT": str(cert), variable: missing}
        else:
            extra = {variable: missing}
        addr = unused_addr("https", userinfo=f"nova:{CANARY}@")
        return vault_env(VAULT_ADDR=addr, **extra), variable

    return case


def number(variable: str, raw: str) -> Case:
    def case(tmp: Path) -> tuple[dict[str, str | None], str]:
        del tmp
        base = vault_env() if variable.startswith("NOVA_VAULT") else aws_env()
        return base | {variable: raw}, variable

    return case


def fixed(variables: Callable[[], dict[str, str | None]], named: str) -> Case:
    def case(tmp: Path) -> tuple[dict[str, str | None], str]:
        del tmp
        return variables(), named

    return case


def token_file(kind: str) -> Case:
    def case(tmp: Path) -> tuple[dict[str, str | None], str]:
        path = bad_file(tmp / "home" / ".vault-token", kind, b"s." + CANARY.encode() + b"\xff")
        return vault_env(VAULT_TOKEN=None), str(path)

    return case


def jwt_file(kind: str) -> Case:
    def case(tmp: Path) -> tuple[dict[str, str | None], str]:
        content = b"eyJhbGciOiJSUzI1NiJ9." + CANARY.encode() + b"\xfe.sig"
        path = bad_file(tmp / "serviceaccount" / "token", kind, content)
        variables = vault_env(
            VAULT_TOKEN=None, VAULT_K8S_ROLE="nova-app", VAULT_K8S_TOKEN_PATH=str(path)
        )
        return variables, str(path)

    return case


BAD_CONFIGURATIONS: dict[str, Case] = {
    **{
        f"{variable}-missing-file": tls_file(variable)
        for variable in ("VAULT_CACERT", "VAULT_CAPATH", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY")
    },
    **{
        f"{variable}={raw}": number(variable, raw)
        for variable in (
            "NOVA_VAULT_TIMEOUT",
            "NOVA_VAULT_DEADLINE",
            "NOVA_AWS_TIMEOUT",
            "NOVA_AWS_DEADLINE",
        )
        for raw in ("nan", "inf", "-1", "0", "abc")
    },
    "VAULT_ADDR-unclosed-ipv6": fixed(lambda: vault_env(VAULT_ADDR="http://[::1"), "VAULT_ADDR"),
    "VAULT_ADDR-port-out-of-range": fixed(
        lambda: vault_env(VAULT_ADDR="http://127.0.0.1:99999"), "VAULT_ADDR"
    ),
    "VAULT_ADDR-unclosed-ipv6-with-password": fixed(
        lambda: vault_env(VAULT_ADDR=f"http://nova:{CANARY}@[::1"), "VAULT_ADDR"
    ),
    "AWS_ENDPOINT_URL-bad-host-with-password": fixed(
        lambda: aws_env(AWS_ENDPOINT_URL=f"http://user:{CANARY}@bad host/"), "AWS_ENDPOINT_URL"
    ),
    # requests refuses such a header with a message that quotes it: the token is checked first.
    "VAULT_TOKEN-with-a-newline": fixed(
        lambda: vault_env(VAULT_TOKEN=f"s.{CANARY}\nX-Injected: 1"), "VAULT_TOKEN"
    ),
    "VAULT_TOKEN-non-ascii": fixed(
        lambda: vault_env(VAULT_TOKEN=f"s.{CANARY}\u00e9"), "VAULT_TOKEN"
    ),
    "VAULT_SECRET_ID-without-role-id": fixed(
        lambda: vault_env(VAULT_TOKEN=None, VAULT_SECRET_ID=f"{CANARY}-sid"), "VAULT_ROLE_ID"
    ),
    **{f"vault-token-file-{kind}": token_file(kind) for kind in ("not-utf8", "fifo", "folder")},
    **{f"kubernetes-jwt-{kind}": jwt_file(kind) for kind in ("not-utf8", "fifo", "folder")},
}


@pytest.mark.parametrize("case", list(BAD_CONFIGURATIONS), ids=list(BAD_CONFIGURATIONS))
def test_bad_configuration_is_one_named_error_without_credentials(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad store variable or credential file is a SourceConfigError naming it, even in
    development, with no credential in its message, chain or frame locals, and no hang."""
    variables, named = BAD_CONFIGURATIONS[case](tmp_path)
    set_env(monkeypatch, variables)
    plant_secrets(monkeypatch)
    outcome = within(LIMIT, load, unblock=release_fifos(tmp_path))
    assert isinstance(outcome, SourceConfigError), f"expected a SourceConfigError, got {outcome!r}"
    assert named in str(outcome)
    assert_no_canary(everything_about(outcome))


@pytest.mark.parametrize("case", list(BAD_CONFIGURATIONS), ids=list(BAD_CONFIGURATIONS))
def test_cli_prints_a_bad_configuration_without_traceback_or_credentials(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nova-config check` exits 1 on a bad configuration and prints the error, never a
    traceback, a credential, or the `None: None` of a raw OSError."""
    variables, named = BAD_CONFIGURATIONS[case](tmp_path)
    set_env(monkeypatch, variables)
    plant_secrets(monkeypatch)
    code, output = within(LIMIT, lambda: run_cli("check"), unblock=release_fifos(tmp_path))
    assert code == 1, output
    assert named in output
    assert "Traceback" not in output
    assert "None: None" not in output
    assert_no_canary({"check output": output})


# --- files that block or never end ---------------------------------------------------------------


def problem_naming(exc: SettingsError, path: str, words: str) -> bool:
    """Whether one problem of the error names the file together with `words`."""
    return any(path in p.message and words in p.message for p in exc.problems)


@pytest.mark.parametrize("which", ["default", "NOVA_ENV_FILE", "environment-layer"])
def test_dotenv_fifo_is_refused_without_hanging(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.env` (or NOVA_ENV_FILE, or `.env.<env>`) that is a FIFO is not a regular file."""
    plant_secrets(monkeypatch)
    path = tmp_path / {"default": ".env", "NOVA_ENV_FILE": "app.env"}.get(which, ".env.development")
    if which == "NOVA_ENV_FILE":
        monkeypatch.setenv("NOVA_ENV_FILE", str(path))
    os.mkfifo(path)
    outcome = within(LIMIT, load, unblock=release_fifos(tmp_path))
    assert isinstance(outcome, SettingsError), "a FIFO .env was accepted"
    assert problem_naming(outcome, str(path), "is not a regular file"), str(outcome)


CHILD_LOAD = """
import sys
from nova_config import NovaSettings, SettingsError
try:
    NovaSettings()
except SettingsError as exc:
    print(type(exc).__name__, exc)
    sys.exit(1)
print("loaded")
"""

# A regression would read /dev/zero until memory runs out: the child may not take the machine's.
LIMIT_MEMORY = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
"""


def load_in_child(prelude: str) -> subprocess.CompletedProcess[str]:
    """Load NovaSettings in a child process (this process's environment and folder), after
    `prelude`; it is killed, and the test fails, if it runs longer than CHILD_LIMIT."""
    return subprocess.run(
        [sys.executable, "-c", prelude + CHILD_LOAD],
        capture_output=True,
        text=True,
        timeout=CHILD_LIMIT,
        check=False,
    )


def test_dotenv_that_never_ends_is_refused_without_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NOVA_ENV_FILE=/dev/zero is not a regular file: no endless read, no MemoryError."""
    plant_secrets(monkeypatch)
    monkeypatch.setenv("NOVA_ENV_FILE", "/dev/zero")
    child = load_in_child(LIMIT_MEMORY)
    assert "MemoryError" not in child.stdout + child.stderr
    assert child.returncode == 1, child.stdout + child.stderr
    assert child.stdout.startswith("SettingsError ")
    assert "/dev/zero is not a regular file" in child.stdout


def dotenv_of_size(size: int) -> str:
    """A `.env` of exactly `size` bytes: ALPACA_API_KEY, then comment lines with the canary."""
    head = f"ALPACA_API_KEY=AK{CANARY}\n"
    line = f"# {CANARY} " + "x" * 1000 + "\n"
    body = line * ((size - len(head)) // len(line))
    rest = size - len(head) - len(body)
    tail = "#" + "y" * (rest - 2) + "\n" if rest >= 2 else "\n" * rest
    text = head + body + tail
    assert len(text.encode()) == size
    return text


def test_dotenv_of_exactly_one_mib_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap is 1 MiB: a `.env` of exactly 1 MiB still loads."""
    plant_secrets(monkeypatch)
    monkeypatch.delenv("ALPACA_API_KEY")
    write(Path(".env"), dotenv_of_size(MiB))
    loaded = NovaSettings()
    assert loaded.source_of("alpaca_api_key").source == "dotenv"


def test_dotenv_over_one_mib_is_refused_without_quoting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.env` one byte over 1 MiB is a problem naming the file; none of its text shows."""
    plant_secrets(monkeypatch)
    monkeypatch.delenv("ALPACA_API_KEY")
    write(Path(".env"), dotenv_of_size(MiB + 1))
    outcome = load()
    assert isinstance(outcome, SettingsError)
    assert problem_naming(outcome, str(tmp_path / ".env"), "larger than 1 MiB"), str(outcome)
    assert_no_canary(error_surfaces(outcome))


@pytest.mark.parametrize("via", ["file-variable", "secrets-folder"])
def test_secret_file_that_is_a_fifo_is_refused_without_hanging(
    via: str, tmp_path: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TIMESCALE_PASSWORD_FILE (or the secrets folder's file) naming a FIFO is refused."""
    plant_secrets(monkeypatch)
    monkeypatch.delenv("TIMESCALE_PASSWORD")
    if via == "file-variable":
        path = tmp_path / "password.fifo"
        monkeypatch.setenv("TIMESCALE_PASSWORD_FILE", str(path))
    else:
        path = secrets_dir / "timescale_password"
    os.mkfifo(path)
    outcome = within(LIMIT, load, unblock=release_fifos(tmp_path))
    assert isinstance(outcome, SettingsError), "a FIFO secret file was accepted"
    assert any(p.variable == "TIMESCALE_PASSWORD" for p in outcome.problems), str(outcome)
    assert problem_naming(outcome, str(path), "is not a regular file"), str(outcome)


DRAIN_KMSG = """
import os
fd = os.open("/proc/kmsg", os.O_RDONLY | os.O_NONBLOCK)
try:
    while os.read(fd, 65536):
        pass
except BlockingIOError:
    pass  # drained: a blocking read would now wait for the next kernel message
os.close(fd)
"""


def kmsg_readable() -> bool:
    try:
        os.close(os.open("/proc/kmsg", os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not kmsg_readable(), reason="/proc/kmsg is readable by root only")
def test_procfs_secret_file_that_would_block_does_not_hang_the_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TIMESCALE_PASSWORD_FILE=/proc/kmsg, drained (so a read would wait): the load ends."""
    plant_secrets(monkeypatch)
    monkeypatch.delenv("TIMESCALE_PASSWORD")
    monkeypatch.setenv("TIMESCALE_PASSWORD_FILE", "/proc/kmsg")
    child = load_in_child(DRAIN_KMSG)
    assert child.returncode in (0, 1), child.stderr
    assert "Traceback" not in child.stderr
    if child.returncode == 1:  # a kernel message may have arrived in between, and been read
        assert child.stdout.startswith("SettingsError ")
        assert "TIMESCALE_PASSWORD" in child.stdout


# --- no secret in frame locals -------------------------------------------------------------------


def fail_on_aws_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    moto: MotoServer = request.getfixturevalue("moto_server")
    empty = write(tmp_path / "aws-config", "")
    set_env(
        monkeypatch,
        aws_env(
            AWS_ENDPOINT_URL=moto.url,
            AWS_PROFILE="nova-no-such-profile",
            AWS_CONFIG_FILE=str(empty),
            AWS_SHARED_CREDENTIALS_FILE=str(empty),
            AWS_ACCESS_KEY_ID=None,
            AWS_SECRET_ACCESS_KEY=None,
        ),
    )


def fail_on_vault_path_two(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    del tmp_path
    request.getfixturevalue("fresh_logins")
    server: OpenBao = request.getfixturevalue("openbao")
    base = f"safety-{uuid.uuid4().hex[:10]}"
    point_at(server, base, monkeypatch)
    values = {
        "discord_webhook_url": CANARY_WEBHOOK,
        "timescale_password": f"vault-{CANARY}",
        "alpaca_secret_key": f"SK{CANARY}",
    }
    server.write_kv2(f"{base}/one", values)
    server.write_kv2(f"{base}/two", values)
    policy = server.policy(f"{base}-one-only", [f"secret/data/{base}/one"])
    monkeypatch.setenv("VAULT_TOKEN", server.token([policy]))
    monkeypatch.setenv("NOVA_VAULT_PATH", f"{base}/one,{base}/two")
    monkeypatch.setenv("NOVA_ENV", "production")


def fail_on_invalid_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    del tmp_path, request
    monkeypatch.setenv("TIMESCALE_PORT", f"1{CANARY}")


def fail_on_vault_addr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    del tmp_path, request
    set_env(monkeypatch, vault_env(VAULT_ADDR=f"http://nova:{CANARY}@[::1"))


def fail_on_aws_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    del tmp_path, request
    set_env(monkeypatch, aws_env(NOVA_AWS_TIMEOUT="nan"))


FAILED_LOADS: dict[
    str,
    tuple[
        Callable[[pytest.MonkeyPatch, Path, pytest.FixtureRequest], None],
        type[SettingsError],
        str,
    ],
] = {
    "aws-profile-missing": (fail_on_aws_profile, SourceConfigError, "AWS_PROFILE"),
    "vault-path-two-denied-in-production": (
        fail_on_vault_path_two,
        SettingsError,
        "permission denied",
    ),
    "invalid-value": (fail_on_invalid_value, SettingsError, "TIMESCALE_PORT"),
    "vault-addr-invalid": (fail_on_vault_addr, SourceConfigError, "VAULT_ADDR"),
    "aws-timeout-nan": (fail_on_aws_timeout, SourceConfigError, "NOVA_AWS_TIMEOUT"),
}


@pytest.mark.parametrize("case", list(FAILED_LOADS))
def test_failed_load_keeps_no_secret_in_frame_locals(
    case: str,
    tmp_path: Path,
    secrets_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Secrets from env, files, .env and Vault never show in a capture_locals traceback, nor
    in the repr of any local of any frame, when the load fails."""
    plant_everywhere(monkeypatch, secrets_dir)
    setup, expected, words = FAILED_LOADS[case]
    setup(monkeypatch, tmp_path, request)
    outcome = load()
    assert isinstance(outcome, expected), f"expected {expected.__name__}, got {outcome!r}"
    assert words in str(outcome)
    surfaces = everything_about(outcome)
    assert "frame 1" in " ".join(surfaces), "the traceback has no frame inside the load"
    assert_no_canary(surfaces)


def test_half_built_vault_source_has_a_working_repr() -> None:
    """A VaultSource whose constructor failed (bad VAULT_ADDR) still has a repr, and it holds
    neither the token nor the address's password."""
    environ = {"VAULT_ADDR": f"http://nova:{CANARY}@[::1", "VAULT_TOKEN": f"s.{CANARY}"}
    context = LoadContext("development", environ, NovaSettings.__nova_plans__)
    try:
        VaultSource(context)
    except SettingsError as exc:
        error: SettingsError = exc
    else:
        pytest.fail("VaultSource accepted VAULT_ADDR='http://...@[::1'")
    assert isinstance(error, SourceConfigError)
    built = []
    tb = error.__traceback__
    while tb is not None:
        built += [v for v in tb.tb_frame.f_locals.values() if isinstance(v, VaultSource)]
        tb = tb.tb_next
    assert built, "no frame of the failed constructor holds the VaultSource"
    text = repr(built[0])
    assert "VaultSource" in text
    assert_no_canary({"repr(half-built VaultSource)": text})


# --- redaction of validator messages ---------------------------------------------------------

SECRET = "Zq7RkW2mTx9BvLp4HnCy"  # mixed case, and no run of 6 that a message would contain

FORMS: dict[str, Callable[[str], str]] = {
    "as-is": lambda v: v,
    "stripped": str.strip,
    "lower-cased": str.lower,
    "upper-cased": str.upper,
    "six-character-prefix": lambda v: v.strip()[:6],
    "middle-run": lambda v: v.strip()[5:12],
    "repr": repr,
}


QUOTING_CLASSES: dict[str, type[SecretSettings]] = {
    "after": QuotingAfter,
    "before": QuotingBefore,
    "secret-type": QuotingWrapped,
}


def quoted_error(cls: type[SecretSettings]) -> SettingsError:
    try:
        cls()
    except SettingsError as exc:
        return exc
    raise AssertionError(f"{cls.__name__} loaded although its validator always raises")


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("mode", list(QUOTING_CLASSES))
def test_validator_message_quoting_the_secret_in_any_form_is_redacted(
    mode: str, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No case-insensitive run of 6+ characters of the secret survives in the error, whether
    the validator quotes it stripped, lower- or upper-cased, in part, or as its repr."""
    raw = f"  {SECRET}\n" if mode == "before" else SECRET  # before: whitespace reaches it
    monkeypatch.setenv("API_TOKEN", raw)
    monkeypatch.setitem(QUOTING, "form", FORMS[form])
    error = quoted_error(QUOTING_CLASSES[mode])
    assert "API_TOKEN" in str(error)
    assert "is revoked" in str(error), "the validator's message should show, redacted"
    assert_no_run(SECRET, error_surfaces(error))


def test_pydantic_secret_type_counts_as_secret() -> None:
    """A field typed `pydantic.Secret[str]` is planned as a secret without any marker."""
    (plan,) = QuotingWrapped.__nova_plans__
    assert plan.name == "api_token"
    assert plan.secret is True


WRAPPED_MODULE = """
from pydantic import Secret
from nova_config import SecretSettings


class WrappedSettings(SecretSettings):
    wrapped_token: Secret[str]
"""


def test_check_json_reports_a_pydantic_secret_field_as_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --json` shows "secret": true for a Secret[str] field, and never its value."""
    name = f"wrapped_{uuid.uuid4().hex}"
    write(tmp_path / f"{name}.py", WRAPPED_MODULE)
    monkeypatch.setenv("WRAPPED_TOKEN", CANARY)
    try:
        code = main(["check", "--json", "--settings", f"{name}:WrappedSettings"])
    finally:
        sys.modules.pop(name, None)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    (row,) = json.loads(out)["fields"]
    assert row["field"] == "wrapped_token"
    assert row["secret"] is True
    assert_no_canary({"check --json": out})


# --- import failures -----------------------------------------------------------------------------


@pytest.fixture
def raising_module(tmp_path: Path) -> Iterator[str]:
    """A module in the working folder that raises ImportError(<canary>) at import."""
    name = f"raises_{uuid.uuid4().hex}"
    write(tmp_path / f"{name}.py", f"raise ImportError({CANARY!r})\n")
    yield name
    sys.modules.pop(name, None)


def test_import_error_of_a_settings_module_shows_only_its_type(
    raising_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --settings mod:S` where mod raises ImportError(<secret>): exit 2, the type named,
    the message not shown."""
    code = main(["check", "--settings", f"{raising_module}:Settings"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "ImportError" in err
    assert raising_module in err
    assert "Traceback" not in out + err
    assert_no_canary({"stdout": out or "(empty)", "stderr": err})
