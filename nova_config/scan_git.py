"""What `nova-config scan` asks git: the files of a work tree, and the lines commits added.

Every git command runs with a deadline (killed when it passes) and with the options that make
its output the same whatever the user's configuration (`diff.noprefix`, colour, external diff
drivers, textconv filters, signatures). A git that cannot be run, or that fails, is a
`UsageError` naming the command and git's first line of complaint.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, NamedTuple

from nova_config.errors import UsageError

LIST_TIMEOUT = 60.0
DIFF_TIMEOUT = 120.0
HISTORY_TIMEOUT = 900.0
_DIFF_OPTIONS = (
    "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--relative",
    "--src-prefix=a/", "--dst-prefix=b/",
)  # fmt: skip
_HUNK = re.compile(rb"@@ -\d+(?:,\d+)? \+(\d+)")
_COMMIT_MARK = b"\x01"


class Added(NamedTuple):
    """The lines one commit (or the index) added to one file, and their line numbers."""

    commit: str | None
    path: str
    text: str
    lines: list[int]


def _git_path() -> str | None:
    return shutil.which("git")


def run_git(root: str, *args: str, timeout: float = LIST_TIMEOUT, check: bool = True) -> bytes:
    """Run `git -C root ARGS` and return its output.

    Raises:
        UsageError: git is not installed, timed out, or failed (when `check`).
    """
    git = _git_path()
    if git is None:
        raise UsageError("git is not installed (needed for --staged and --history)")
    command = [git, "-C", root, "-c", "core.quotePath=false", *args]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)  # noqa: S603 - argv of fixed git options and a folder, no shell
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} took longer than {timeout:g} s in {root}") from None
    if check and done.returncode != 0:
        complaint = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        raise UsageError(f"git {args[0]} failed in {root}: {''.join(complaint) or 'no message'}")
    return done.stdout


def in_work_tree(root: str) -> bool:
    """Whether a folder is inside a git work tree (False when git is not installed)."""
    if _git_path() is None:
        return False
    out = run_git(root, "rev-parse", "--is-inside-work-tree", check=False)
    return out.strip() == b"true"


def listed_files(root: str) -> list[str]:
    """The files git tracks under `root` plus the untracked ones it does not ignore."""
    out = run_git(root, "ls-files", "-co", "--exclude-standard", "-z")
    return sorted({name.decode("utf-8", "surrogateescape") for name in out.split(b"\0") if name})


def staged(root: str) -> Iterator[Added]:
    """The lines staged for the next commit, per file, with their line numbers in the index."""
    out = run_git(root, "diff", "--cached", *_DIFF_OPTIONS, timeout=DIFF_TIMEOUT)
    yield from parse_diff(iter(out.splitlines(keepends=True)))


def history(root: str) -> Iterator[Added]:
    """Every line added by any commit reachable from HEAD, oldest commit first.

    Raises:
        UsageError: git failed or took longer than `HISTORY_TIMEOUT` seconds in all.
    """
    if run_git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() == b"":
        return  # no commit yet
    log = ("log", "-p", "--reverse", "--no-show-signature", "--format=%x01%h", *_DIFF_OPTIONS)
    command = [str(_git_path()), "-C", root, "-c", "core.quotePath=false", *log, "HEAD"]
    # stderr to a file: a pipe nobody reads while stdout streams could fill and stall git.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)  # noqa: S603 - fixed git argv, no shell
        # The deadline covers the whole walk: a timer kills git, which ends the read loop.
        timer = threading.Timer(HISTORY_TIMEOUT, process.kill)
        timer.start()
        try:
            yield from parse_diff(process.stdout or iter(()))
            status = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        errors.seek(0)
        complaint = _first_line(errors)
    if status != 0:
        why = "took too long" if status < 0 else f"failed: {complaint or 'no message'}"
        raise UsageError(f"git log {why} in {root}")


def _first_line(stream: IO[bytes]) -> str:
    lines = stream.read(4096).decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else ""


def _diff_path(raw: bytes) -> str | None:
    raw = raw.rstrip(b"\r\n")
    if raw.startswith(b'"'):  # git quotes names with control characters, `"` or `\`
        try:
            raw = ast.literal_eval("b" + raw.decode("ascii", "replace"))
        except (ValueError, SyntaxError):
            return None
    if not raw.startswith(b"b/"):
        return None  # /dev/null: the file was deleted
    return raw[2:].decode("utf-8", "surrogateescape")


def parse_diff(stream: Iterator[bytes] | IO[bytes]) -> Iterator[Added]:
    """The added lines of a `-U0` patch (with `%x01<commit>` lines between commits)."""
    commit: str | None = None
    path: str | None = None
    in_header = False
    texts: list[str] = []
    numbers: list[int] = []
    number = 0
    for raw in stream:
        if raw.startswith((_COMMIT_MARK, b"diff --git ")):
            if path is not None and texts:
                yield Added(commit, path, "\n".join(texts), numbers)
            texts, numbers, path = [], [], None
            in_header = raw.startswith(b"diff --git ")
            if not in_header:
                commit = raw[1:].strip().decode("ascii", "replace")
        elif in_header and raw.startswith(b"+++ "):
            path = _diff_path(raw[4:])
        elif raw.startswith(b"@@"):
            in_header = False
            hunk = _HUNK.match(raw)
            number = int(hunk[1]) if hunk else 0
        elif not in_header and raw.startswith(b"+") and path is not None:
            texts.append(raw[1:].rstrip(b"\r\n").decode("utf-8", "replace"))
            numbers.append(number)
            number += 1
    if path is not None and texts:
        yield Added(commit, path, "\n".join(texts), numbers)


__all__ = ["Added", "history", "in_work_tree", "listed_files", "parse_diff", "run_git", "staged"]
