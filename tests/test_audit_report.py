"""`nova-config audit verify` and `audit report`: the chain's breaks, totals and findings."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import string
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nova_config import audit_verify
from nova_config.audit_cli import add_audit_parser, run_audit, verify_command
from nova_config.audit_report import time_text
from nova_config.auditchain import chain_hash, dump, encode
from nova_config.errors import UsageError

T0 = datetime(2026, 11, 29, 16, 50, 1, 123000, tzinfo=UTC)
APP = "app.settings:AppSettings"


def at(seconds: float) -> str:
    """The time `seconds` after T0, in the log's format."""
    return time_text(T0 + timedelta(seconds=seconds))


def event(name: str, *, seconds: float = 0, **fields: Any) -> dict[str, Any]:
    """An event with the common keys (production, host web-1), overridden by `fields`."""
    common = {
        "time": at(seconds),
        "event": name,
        "settings": APP,
        "environment": "production",
        "host": "web-1",
        "pid": 4242,
        "load_id": f"{int(seconds * 1000):016x}",
    }
    return common | fields


def read(source: str = "vault", field: str = "api_key", **fields: Any) -> dict[str, Any]:
    """A secret_read of `field` from `source`, resolved unless `outcome` says otherwise."""
    body: dict[str, Any] = {"field": field, "variable": field.upper(), "source": source}
    body |= {"location": f"{source}://{field}", "version": None, "outcome": "resolved"}
    return event("secret_read", **(body | fields))


def failed(source: str = "vault", **fields: Any) -> dict[str, Any]:
    """A source_failed of `source`, unavailable and fatal unless `fields` say otherwise."""
    body: dict[str, Any] = {
        "source": source,
        "cause": "unavailable",
        "reason": "timed out",
        "outcome": "fatal",
    }
    return event("source_failed", **(body | fields))


def loaded(**fields: Any) -> dict[str, Any]:
    """A settings_loaded."""
    body: dict[str, Any] = {"sources": ["env"], "problems": 0, "duration_ms": 1.5}
    return event("settings_loaded", **(body | fields))


def chained(events: Sequence[dict[str, Any]]) -> list[bytes]:
    """The events as log lines (newline included), chained by `prev` as the writer chains them."""
    lines, prev = [], None
    for item in events:
        line = dump(item | {"prev": prev})
        lines.append(line)
        prev = chain_hash(line)
    return lines


def write_log(path: Path, lines: Sequence[bytes]) -> str:
    """Write lines as they are; return the path as text."""
    path.write_bytes(b"".join(lines))
    return str(path)


def log_of(events: Sequence[dict[str, Any]], name: str = "audit.jsonl") -> str:
    """A log of `events` with an intact chain, in the working folder (the test's own); its path."""
    return write_log(Path(name), chained(events))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `nova-config audit ...` through its parser; status, stdout and stderr as main gives."""
    parser = argparse.ArgumentParser(prog="nova-config")
    add_audit_parser(parser.add_subparsers(dest="command", required=True))
    try:
        code = run_audit(parser.parse_args(["audit", *argv]))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    except UsageError as exc:  # reported by cli.main exactly so
        print(f"nova-config: {exc}", file=sys.stderr)
        code = 2
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def report_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    """`audit report --json`: the status and the parsed report."""
    code, out, _ = run(capsys, "report", "--json", *argv)
    return code, json.loads(out)


def kinds(report: dict[str, Any]) -> list[tuple[str, list[int]]]:
    """The findings of a JSON report as (kind, lines)."""
    return [(f["kind"], f["lines"]) for f in report["findings"]]


FIVE = [read(field=f"f{n}", seconds=n) for n in range(5)]


# --- verify --------------------------------------------------------------------------------------


def test_verify_intact_log_exits_0_with_line_count(capsys: pytest.CaptureFixture[str]) -> None:
    path = log_of(FIVE)
    assert run(capsys, "verify", path) == (0, f"{path}: 5 lines, chain intact\n", "")


def test_verify_empty_log_is_intact(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_log(tmp_path / "empty.jsonl", [])
    assert run(capsys, "verify", path)[:2] == (0, f"{path}: 0 lines, chain intact\n")


def _edit(lines: list[bytes]) -> list[bytes]:
    edited = json.loads(lines[2]) | {"source": "env"}
    return [*lines[:2], dump(edited), *lines[3:]]


TAMPERS: dict[str, tuple[Callable[[list[bytes]], list[bytes]], int, str]] = {
    "edited line 3": (_edit, 4, "does not match line 3"),
    "deleted line 3": (lambda ls: [*ls[:2], *ls[3:]], 3, "does not match line 2"),
    "swapped 3 and 4": (lambda ls: [*ls[:2], ls[3], ls[2], ls[4]], 3, "does not match line 2"),
    "line 3 not JSON": (lambda ls: [*ls[:2], b'{"time": "2026\n', *ls[3:]], 3, "not valid JSON"),
    "line 3 empty": (lambda ls: [*ls[:2], b"\n", *ls[2:]], 3, "is empty"),
    "line 3 a list": (lambda ls: [*ls[:2], b"[1, 2]\n", *ls[3:]], 3, "not an object"),
    "line 1 deleted": (lambda ls: ls[1:], 1, "first line but its prev is not null"),
    "last line cut": (lambda ls: [*ls[:4], ls[4][:40]], 5, "cut short"),
    "last newline cut": (lambda ls: [*ls[:4], ls[4][:-1]], 5, "cut short"),
}


@pytest.mark.parametrize("case", TAMPERS)
def test_verify_names_the_first_line_that_breaks_the_chain(
    case: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tamper, line, why = TAMPERS[case]
    path = write_log(tmp_path / "audit.jsonl", tamper(chained(FIVE)))
    code, out, _ = run(capsys, "verify", path)
    assert code == 1
    assert out.startswith(f"{path}:{line}: chain broken: line {line} ")
    assert why in out
    assert len(out.splitlines()) == 1


def test_verify_line_without_prev_key_breaks(capsys: pytest.CaptureFixture[str]) -> None:
    lines = chained(FIVE)
    lines[1] = dump({k: v for k, v in json.loads(lines[1]).items() if k != "prev"})
    code, out, _ = run(capsys, "verify", write_log(Path("a.jsonl"), lines))
    assert (code, "line 2 has no prev" in out) == (1, True)


def test_verify_several_files_fails_if_one_breaks(capsys: pytest.CaptureFixture[str]) -> None:
    good = log_of(FIVE, "good.jsonl")
    bad = write_log(Path("bad.jsonl"), chained(FIVE)[1:])
    code, out, _ = run(capsys, "verify", good, bad)
    assert code == 1
    assert out.splitlines()[0] == f"{good}: 5 lines, chain intact"
    assert out.splitlines()[1].startswith(f"{bad}:1: chain broken: line 1 is the first line")


def test_verify_accepts_what_the_writer_appends(capsys: pytest.CaptureFixture[str]) -> None:
    """Logs written by auditchain.append verify; a load cut short by a crash shows as its line."""
    from nova_config.auditchain import append  # noqa: PLC0415 - the writer, against the reader

    append("audit.jsonl", [encode(e) for e in FIVE[:2]])
    append("audit.jsonl", [encode(e) for e in FIVE[2:]])
    assert run(capsys, "verify", "audit.jsonl")[:2] == (0, "audit.jsonl: 5 lines, chain intact\n")
    with open("audit.jsonl", "ab") as handle:
        handle.write(b'{"time":"2026-')  # a crash mid-write
    append(
        "audit.jsonl", [encode(FIVE[0])]
    )  # the next load starts a new line, chained to the cut one
    code, out, _ = run(capsys, "verify", "audit.jsonl")
    assert (code, out) == (1, "audit.jsonl:6: chain broken: line 6 is not valid JSON\n")


def test_verify_waits_for_a_write_in_progress(capsys: pytest.CaptureFixture[str]) -> None:
    """A load half-written under the writer's lock is read once whole, not as a line cut short."""
    lines = chained(FIVE)
    write_log(Path("audit.jsonl"), [*lines[:4], lines[4][:30]])
    fd = os.open("audit.jsonl", os.O_WRONLY | os.O_APPEND)
    fcntl.flock(fd, fcntl.LOCK_EX)

    def finish_write() -> None:
        os.write(fd, lines[4][30:])
        os.close(fd)  # releases the lock

    timer = threading.Timer(0.2, finish_write)
    timer.start()
    try:
        assert run(capsys, "verify", "audit.jsonl")[:2] == (
            0,
            "audit.jsonl: 5 lines, chain intact\n",
        )
    finally:
        timer.join()


def test_verify_does_not_wait_long_for_a_stuck_writer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_verify, "LOCK_WAIT", 0.05)
    lines = chained(FIVE)
    write_log(Path("audit.jsonl"), [*lines[:4], lines[4][:30]])
    fd = os.open("audit.jsonl", os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, out, _ = run(capsys, "verify", "audit.jsonl")
    finally:
        os.close(fd)
    assert (code, out) == (
        1,
        "audit.jsonl:5: chain broken: line 5 is cut short: the file does not end with a newline\n",
    )


CANARY = st.text(string.ascii_letters, min_size=10, max_size=30).map(lambda s: "cnry" + s)


@settings(max_examples=60, deadline=None)
@given(
    canaries=st.lists(CANARY, min_size=3, max_size=3),
    tamper=st.sampled_from([None, *TAMPERS]),
    raw=st.booleans(),
)
def test_verify_prints_no_line_content(canaries: list[str], tamper: str | None, raw: bool) -> None:
    """Canaries in reason and location never reach verify's output, whatever breaks."""
    events = [
        failed(reason=canaries[0], seconds=0),
        read(location=canaries[1], seconds=1),
        failed(reason=canaries[2], location=canaries[0], seconds=2),
        read(location=canaries[2], seconds=3),
        read(location=canaries[1], seconds=4),
    ]
    lines = chained(events)
    if tamper is not None:
        lines = TAMPERS[tamper][0](lines)
    if raw:  # a line that is no JSON at all, only the canary
        lines[1] = canaries[1].encode() + b"\n"
    with tempfile.TemporaryDirectory() as folder:
        out = StringIO()
        verify_command([write_log(Path(folder) / "log", lines)], out=out)
    assert not any(canary in out.getvalue() for canary in canaries)
    assert "cnry" not in out.getvalue()


# --- usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("since", ["7", "7x", "-1d", "d", "1.5h", "", "0m", "٣d", "9999999999999d"])
def test_bad_since_is_a_usage_error(since: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = log_of(FIVE)
    code, out, err = run(capsys, "report", path, "--since", since)
    assert (code, out) == (2, "")
    assert "--since" in err


@pytest.mark.parametrize("burst", ["0", "-3", "x"])
def test_bad_burst_is_a_usage_error(burst: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", log_of(FIVE), "--burst", burst)
    assert (code, "--burst" in err) == (2, True)


@pytest.mark.parametrize("command", ["verify", "report"])
def test_missing_file_and_folder_are_usage_errors(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.jsonl")
    code, out, err = run(capsys, command, missing)
    assert (code, out) == (2, "")
    assert err == f"nova-config: {missing} does not exist (or is a dangling link)\n"
    code, out, err = run(capsys, command, str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"nova-config: {tmp_path} is a folder, not a file\n"


@pytest.mark.parametrize("command", ["verify", "report"])
def test_fifo_is_refused_without_waiting(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result: list[tuple[int, str, str]] = []
    # A daemon thread, so that a reader blocked on the FIFO fails the test instead of hanging it.
    worker = threading.Thread(target=lambda: result.append(run(capsys, command, str(fifo))))
    worker.daemon = True
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert result == [(2, "", f"nova-config: {fifo} is not a regular file\n")]


# --- report: findings ----------------------------------------------------------------------------


def test_report_clean_log_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = report_json(capsys, log_of([*FIVE, loaded(seconds=5)]))
    assert (code, report["findings"]) == (0, [])


@pytest.mark.parametrize(("cause", "found"), [("denied", True), ("unavailable", False)])
def test_denied_store_is_a_finding(
    cause: str, found: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [read(), failed("aws", cause=cause), failed("aws", cause=cause), loaded()]
    code, report = report_json(capsys, log_of(events))
    assert code == int(found)
    assert kinds(report) == ([("denied", [2, 3])] if found else [])


@pytest.mark.parametrize(
    ("environment", "outcome", "found"),
    [
        ("production", "fallback", True),
        ("staging", "fallback", True),
        ("development", "fallback", False),
        ("test", "fallback", False),
        ("production", "fatal", False),
    ],
)
def test_fallback_in_strict_environment_is_a_finding(
    environment: str, outcome: str, found: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [failed(environment=environment, outcome=outcome), loaded(environment=environment)]
    _, report = report_json(capsys, log_of(events))
    assert kinds(report) == ([("fallback_in_strict", [1])] if found else [])


@pytest.mark.parametrize(
    ("environment", "found"), [("staging", True), ("production", True), ("development", False)]
)
def test_dotenv_read_in_strict_environment_is_a_finding(
    environment: str, found: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [read("vault", environment=environment), read("dotenv", "b", environment=environment)]
    _, report = report_json(capsys, log_of(events))
    assert kinds(report) == ([("fallback_in_strict", [2])] if found else [])


@pytest.mark.parametrize(
    ("earlier", "later", "found"),
    [
        ("vault", "env", True),
        ("aws", "dotenv", True),
        ("vault", "files", True),
        ("aws", "init", True),
        ("env", "vault", False),
        ("vault", "aws", False),
        ("env", "dotenv", False),
    ],
)
def test_source_drift_store_then_local_is_a_finding(
    earlier: str, later: str, found: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [read(earlier, environment="development"), read(later, environment="development")]
    events = [events[0], loaded(), events[1] | {"time": at(60)}, loaded(seconds=60)]
    _, report = report_json(capsys, log_of(events))
    assert kinds(report) == ([("source_drift", [3])] if found else [])


def test_source_drift_is_per_settings_environment_and_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = [
        read("vault", seconds=0),
        read("env", field="other", seconds=1),
        read("env", environment="staging", seconds=2),
        read("env", settings="shop:Shop", seconds=3),
        read("vault", outcome="missing", field="gone", seconds=4),
        read("env", field="gone", seconds=5),
    ]
    assert report_json(capsys, log_of(events))[1]["findings"] == []


def test_source_drift_orders_by_time_across_files(capsys: pytest.CaptureFixture[str]) -> None:
    """The store read is in the second file but earlier: the first file's env read drifted."""
    local = log_of([read("env", seconds=100)], "a.jsonl")
    store = log_of([read("vault", seconds=0)], "b.jsonl")
    _, report = report_json(capsys, local, store)
    assert [(f["kind"], f["file"], f["lines"]) for f in report["findings"]] == [
        ("source_drift", local, [1])
    ]
    assert "b.jsonl:1" in report["findings"][0]["detail"]
    later_store = log_of([read("vault", seconds=200)], "c.jsonl")
    assert report_json(capsys, local, later_store)[1]["findings"] == []


def _loads(count: int, spacing: float, host: str = "web-1") -> list[dict[str, Any]]:
    return [loaded(seconds=n * spacing, host=host) for n in range(count)]


@pytest.mark.parametrize(
    ("events", "burst", "lines"),
    [
        (_loads(61, 0.5), "60", list(range(1, 62))),
        (_loads(60, 0.5), "60", []),
        (_loads(61, 1.5), "60", []),  # 61 loads over 90 s: no minute holds more than 40
        (_loads(31, 1) + _loads(30, 1, host="web-2"), "60", []),
        (_loads(6, 10), "5", list(range(1, 7))),
        (_loads(6, 12), "5", []),  # the sixth is exactly a minute after the first
    ],
)
def test_burst_of_loads_from_one_host_within_a_minute(
    events: list[dict[str, Any]], burst: str, lines: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    _, report = report_json(capsys, log_of(events), "--burst", burst)
    assert kinds(report) == ([("burst", lines)] if lines else [])


def test_separate_bursts_are_separate_findings(capsys: pytest.CaptureFixture[str]) -> None:
    events = [*_loads(4, 1), *[loaded(seconds=600 + n) for n in range(4)]]
    _, report = report_json(capsys, log_of(events), "--burst", "3")
    assert kinds(report) == [("burst", [1, 2, 3, 4]), ("burst", [5, 6, 7, 8])]
    assert "4 loads within a minute on host web-1" in report["findings"][0]["detail"]


def test_broken_chain_is_a_finding_and_bad_lines_are_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = chained([read("vault"), failed(cause="denied"), loaded()])
    lines.insert(1, b"not json\n")
    code, report = report_json(capsys, write_log(Path("a.jsonl"), lines))
    assert code == 1
    assert kinds(report) == [("chain_broken", [2]), ("denied", [3])]
    assert report["findings"][0]["detail"] == "line 2 is not valid JSON"
    assert (report["totals"]["lines"], report["totals"]["skipped"]) == (4, 1)


# --- report: totals, --since, output -------------------------------------------------------------


def test_totals_count_loads_failures_secrets_and_later_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = [
        read("vault"),
        read("env", field="b"),
        read("vault", field="c", outcome="invalid"),
        failed("aws"),
        loaded(),
        event("settings_failed", problems=1, environment="development"),
        event("secret_rotated", field="api_key"),
        event("backup_written", path="x"),
        event("some_future_event"),
        event("settings_loaded", host="web-2"),
        {"event": "secret_read", "source": ["a", "list"]},  # no time: skipped, not fatal
        event("secret_read", source=["a"], environment={"x": 1}, outcome="resolved"),
    ]
    code, report = report_json(capsys, log_of(events))
    totals = report["totals"]
    assert code == 0
    assert totals["loads"] == [
        {"settings": APP, "environment": "development", "host": "web-1", "loads": 1, "failed": 1},
        {"settings": APP, "environment": "production", "host": "web-1", "loads": 1, "failed": 0},
        {"settings": APP, "environment": "production", "host": "web-2", "loads": 1, "failed": 0},
    ]
    assert totals["failures"] == {"aws": 1}
    assert totals["secrets"] == {"?": 1, "env": 1, "vault": 1}
    assert totals["events"] == {
        "backup_written": 1,
        "secret_read": 4,
        "secret_rotated": 1,
        "settings_failed": 1,
        "settings_loaded": 2,
        "some_future_event": 1,
        "source_failed": 1,
    }
    assert (totals["files"], totals["lines"], totals["skipped"], totals["older"]) == (1, 12, 1, 0)


def test_since_keeps_only_newer_events(capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    old = [failed(cause="denied") | {"time": time_text(now - timedelta(days=10))}]
    new = [failed(cause="denied") | {"time": time_text(now - timedelta(hours=1))}]
    path = log_of([*old, *new])
    code, report = report_json(capsys, path, "--since", "7d")
    assert (code, kinds(report)) == (1, [("denied", [2])])
    assert (report["totals"]["older"], report["totals"]["failures"]) == (1, {"vault": 1})
    for since in ("30m", "1800s"):
        code, report = report_json(capsys, path, "--since", since)
        assert (code, report["findings"], report["totals"]["older"]) == (0, [], 2)
    assert kinds(report_json(capsys, path, "--since", "12h")[1]) == [("denied", [2])]


def test_json_report_shape(capsys: pytest.CaptureFixture[str]) -> None:
    path = log_of([failed(cause="denied"), loaded()])
    _, report = report_json(capsys, path)
    assert set(report) == {"totals", "findings"}
    assert set(report["totals"]) == {
        "files",
        "lines",
        "skipped",
        "older",
        "events",
        "loads",
        "failures",
        "secrets",
    }
    assert report["findings"] == [
        {
            "kind": "denied",
            "file": path,
            "lines": [1],
            "detail": f"vault refused access to {APP} in production on host web-1",
        }
    ]


def test_text_report_has_totals_and_one_line_per_finding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = [read("vault"), failed(cause="denied"), failed(cause="denied", seconds=1), loaded()]
    code, out, _ = run(capsys, "report", log_of(events))
    assert code == 1
    assert f"  {APP}  production  web-1  1 (0 failed)" in out
    assert "store failures: vault 2\n" in out
    assert "secrets resolved by source: vault 1\n" in out
    assert out.endswith(
        "findings: 1\n"
        f"audit.jsonl:2: denied: vault refused access to {APP} in production on host web-1"
        " (2 lines: 2, 3)\n"
    )


def test_report_prints_no_reason_location_or_escape(capsys: pytest.CaptureFixture[str]) -> None:
    """Free text never shows; names from a tampered log are printed escaped."""
    events = [
        read("dotenv", location="cnry-location-1"),
        failed(cause="denied", outcome="fallback", reason="cnry-reason-2", host="\x1b[2Jevil"),
        loaded(host="\x1b[2Jevil"),
    ]
    lines = [*chained(events), b'{"cnry-raw-3": \n']
    path = write_log(Path("audit.jsonl"), lines)
    for flags in ((), ("--json",)):
        code, out, err = run(capsys, "report", *flags, path)
        assert code == 1
        assert "cnry" not in out + err
        assert "\x1b" not in out + err
        assert "evil" in out  # shown, escaped
