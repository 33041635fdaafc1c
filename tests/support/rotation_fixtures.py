"""The `rotate` fixture: `nova-config rotate ARGV` in process, standard input given."""

from __future__ import annotations

import argparse
import io
import sys

import pytest

from nova_config.rotate_cli import add_rotate_parser, run_rotate
from tests.support.rotation import Result, Rotate


@pytest.fixture
def rotate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Rotate:
    """Run `nova-config rotate ARGV` in process with `stdin` as standard input."""

    def run(*argv: str, stdin: io.StringIO | str = "") -> Result:
        parser = argparse.ArgumentParser(prog="nova-config")
        add_rotate_parser(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["rotate", *argv])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        code = run_rotate(args)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
