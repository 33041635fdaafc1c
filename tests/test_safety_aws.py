"""The AWS store under a hostile network: a process whose load failed exits, no URL password."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from nova_config import NovaSettings, SettingsError
from nova_config.cli import main
from nova_config.sources import aws
from tests.support.child import run_child, run_without_dns
from tests.support.moto import FAKE_KEY_ID, FAKE_SECRET_KEY, REGION
from tests.support.trickle import TricklePart, TrickleServer

SCRIPT = Path(sys.executable).parent / "nova-config"
DEADLINE = 2.0
PASSWORD = "PASSWORD7c41e9b0d2"  # written into the endpoint URL; never shown anywhere


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """boto3 with the suite's fake credentials, a secret to read, and production's policy."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # Never ask a real instance-metadata endpoint for credentials or a region.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NOVA_AWS_SECRET_ID", "nova-test/safety")
    monkeypatch.setenv("NOVA_AWS_DEADLINE", str(DEADLINE))
    monkeypatch.setenv("NOVA_AWS_TIMEOUT", "1")
    monkeypatch.setenv("NOVA_ENV", "production")
    yield
    aws.close_clients()


@pytest.mark.parametrize("part", ["headers", "body"])
def test_the_check_script_exits_soon_after_the_deadline_against_a_trickling_endpoint(
    part: TricklePart,
) -> None:
    """`nova-config check` exits 1 within the deadline + 3 s; no abandoned call keeps it alive.

    Fault injection at the HTTP layer: the endpoint trickles its answer one byte every 0.1 s,
    inside the 1 s read timeout, for 30 s.
    """
    server = TrickleServer(part, interval=0.1, limit=30.0).start()
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL": server.url}
        finished = run_child([str(SCRIPT), "check"], env, limit=DEADLINE + 8)
    finally:
        server.stop()
    finished.assert_failed_within(DEADLINE + 3)
    assert "deadline" in problem_line(finished.output).lower()
    assert server.connections >= 1


def test_the_check_script_exits_soon_after_the_deadline_when_dns_never_answers(
    tmp_path: Path,
) -> None:
    """No DNS answer for the endpoint's host: `check` exits 1 within the deadline + 3 s.

    The child's nameserver receives queries and never answers, so each name lookup (and
    botocore retries) would take 15 s without the deadline.
    """
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://secretsmanager.invalid-name.test:4566"}
    finished = run_without_dns([str(SCRIPT), "check"], env, limit=DEADLINE + 10, workdir=tmp_path)
    finished.assert_failed_within(DEADLINE + 3)
    assert "deadline" in problem_line(finished.output).lower()
    assert finished.dns_queries > 0


def problem_line(output: str) -> str:
    """The problem `check` printed for the AWS store (empty when there is none)."""
    lines = [line.strip() for line in output.splitlines()]
    return next((line for line in lines if line.startswith("- AWS Secrets Manager at ")), "")


def failed_load() -> SettingsError:
    """Load NovaSettings and return its error (this frame holds no URL, unlike the test's)."""
    try:
        NovaSettings()
    except SettingsError as exc:
        return exc
    raise AssertionError("the load succeeded")


def test_an_endpoint_url_with_a_password_that_is_not_valid_is_named_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS_ENDPOINT_URL with a user, a password and a space: one error naming the variable.

    The password shows nowhere: not in the message, the repr, a traceback that records every
    frame's locals, nor `nova-config check`'s output.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://user:{PASSWORD}@bad host/")
    monkeypatch.setattr(sys, "path", list(sys.path))  # `check` puts the working folder on it
    error = failed_load()
    frames = traceback.TracebackException.from_exception(error, capture_locals=True)
    code = main(["check"])
    out, err = capsys.readouterr()
    assert "AWS_ENDPOINT_URL" in str(error)
    assert code == 1
    assert "AWS_ENDPOINT_URL" in out + err
    for text in (str(error), repr(error), "".join(frames.format()), out, err):
        assert PASSWORD not in text
