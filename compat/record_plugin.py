"""A pytest plugin that writes each test report, with the first line of a failure, as JSON lines."""

import json
from pathlib import Path
from typing import IO

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--compat-record",
        metavar="PATH",
        help="write one JSON line per test phase and per failed collection to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("compat_record")
    if path:
        config.pluginmanager.register(_Recorder(Path(path)), "compat-recorder")


def first_line(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The first non-empty line of a report's failure: the exception, or a skip's reason."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        text = str(crash.message)
    elif isinstance(longrepr, tuple):
        text = str(longrepr[2])  # a skip: (path, line, reason)
    else:
        text = str(longrepr or "")
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


class _Recorder:
    def __init__(self, path: Path) -> None:
        self._out: IO[str] = path.open("w", encoding="utf-8")

    def _write(self, nodeid: str, when: str, outcome: str, message: str, xfail: bool) -> None:
        row = {
            "nodeid": nodeid,
            "when": when,
            "outcome": outcome,
            "message": message,
            "xfail": xfail,
        }
        self._out.write(json.dumps(row) + "\n")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        message = "" if report.passed else first_line(report)
        self._write(
            report.nodeid, report.when, report.outcome, message, hasattr(report, "wasxfail")
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._write(report.nodeid, "collect", "failed", first_line(report), False)

    def pytest_unconfigure(self) -> None:
        self._out.close()
