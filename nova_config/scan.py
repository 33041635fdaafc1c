"""`nova-config scan`: the app's secrets (and their usual neighbours) written into a repository.

`scan_repository()` is the API (the doctor uses it); `find()` is the whole engine, also for the
staged lines (`--staged`) and every line of history (`--history`). Files come from git when the
folder is in a work tree (tracked, plus untracked and not ignored), else from a walk that skips
`.git`, virtualenvs, `node_modules`, binary files and files over 1 MiB. A finding shows only a
preview of its secret (at most its first four characters) and a salted scrypt fingerprint.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple

from nova_config.errors import FileReadError, UsageError
from nova_config.scan_baseline import Baseline, Fingerprints
from nova_config.scan_git import history, in_work_tree, listed_files, staged
from nova_config.scan_rules import detect
from nova_config.sources.fileread import read_bytes

MAX_FILE_BYTES = 1024 * 1024
BINARY_SNIFF = 8192
SKIPPED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__"})
ALLOW = re.compile(r"nova:\s*allow", re.IGNORECASE)
PREVIEW_CHARS = 4

Mode = Literal["files", "staged", "history"]


class ScanFinding(NamedTuple):
    """One secret found: where, by which rule, its fingerprint and a preview, never the value."""

    path: str
    line: int
    rule: str
    fingerprint: str
    preview: str
    commit: str | None = None


class _Candidate(NamedTuple):
    path: str
    line: int
    rule: str
    secret: str
    commit: str | None


def preview(secret: str) -> str:
    """At most the first four characters of a secret, and never more than a quarter of it."""
    return secret[: min(PREVIEW_CHARS, len(secret) // 4)] + "…"


def _in_text(
    text: str, path: str, commit: str | None, lines: list[int] | None
) -> Iterator[_Candidate]:
    """The secrets of one text not allowed by a `nova: allow` comment on their line."""
    index, counted = 0, 0  # the line index of offset `counted`
    for match in detect(text, path):
        index += text.count("\n", counted, match.start)
        counted = match.start
        begin = text.rfind("\n", 0, match.start) + 1
        end = text.find("\n", match.start)
        if ALLOW.search(text, begin, len(text) if end < 0 else end):
            continue
        line = lines[index] if lines is not None else index + 1
        yield _Candidate(path, line, match.rule, match.secret, commit)


def _walk(root: str) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRS and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))
        )
        relative = os.path.relpath(folder, root)
        for name in sorted(files):
            yield name if relative == "." else f"{relative}/{name}".replace(os.sep, "/")


def _read(path: str) -> str | None:
    """A regular file's text, or None for a link, a large, binary or unreadable file."""
    try:
        info = os.lstat(path)
    except OSError:
        return None  # listed by git but deleted from the work tree
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
        return None
    try:
        data = read_bytes(path, MAX_FILE_BYTES)
    except FileReadError:
        return None
    if b"\0" in data[:BINARY_SNIFF]:
        return None
    return data.decode("utf-8", "replace")


def _file_candidates(root: str) -> Iterator[_Candidate]:
    if os.path.isfile(root):
        names: Iterable[str] = [""]
    else:
        names = listed_files(root) if in_work_tree(root) else _walk(root)
    for name in names:
        text = _read(os.path.join(root, name) if name else root)
        if text:
            shown = name or root.replace(os.sep, "/")  # a file is shown as it was named
            yield from _in_text(text, shown, None, None)


def _git_candidates(root: str, mode: Mode) -> Iterator[_Candidate]:
    if not (os.path.isdir(root) and in_work_tree(root)):
        raise UsageError(f"--{mode} needs a folder inside a git work tree ({root} is not)")
    for added in staged(root) if mode == "staged" else history(root):
        yield from _in_text(added.text, added.path, added.commit, added.lines)


def find(root: str, *, mode: Mode = "files", fingerprints: Fingerprints) -> list[ScanFinding]:
    """Every finding under a folder (or in a file), before any baseline.

    Args:
        root: the folder (or file) to scan; paths are reported relative to it, with `/`.
        mode: the files as they are, the staged lines, or every line of history (where a
            secret is reported once, at the oldest commit that added it).
        fingerprints: the salt and cache the fingerprints come from.

    Raises:
        UsageError: the path does not exist, or git failed (or is needed and is not a repo).
    """
    if not os.path.exists(root):
        raise UsageError(f"{root} does not exist")
    source = _file_candidates(root) if mode == "files" else _git_candidates(root, mode)
    candidates = list(source)
    prints = fingerprints.compute(c.secret for c in candidates)
    findings: list[ScanFinding] = []
    seen: set[str] = set()
    for c in candidates:
        fingerprint = prints[c.secret]
        if mode == "history":
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
        findings.append(
            ScanFinding(c.path, c.line, c.rule, fingerprint, preview(c.secret), c.commit)
        )
    return findings


def not_accepted(findings: Iterable[ScanFinding], baseline: Baseline | None) -> list[ScanFinding]:
    """The findings a baseline does not list (by rule, path and fingerprint: no line numbers)."""
    if baseline is None:
        return list(findings)
    return [f for f in findings if (f.rule, f.path, f.fingerprint) not in baseline.accepted]


def scan_repository(
    root: str | os.PathLike[str], *, baseline: str | os.PathLike[str] | None = None
) -> list[ScanFinding]:
    """Scan a repository's files for secrets, as `nova-config scan PATH` does.

    Args:
        root: the folder; finding paths are relative to it, with `/`.
        baseline: a baseline file whose findings are accepted; its salt makes the
            fingerprints. Without one, fingerprints use a random salt for this call only.

    Returns:
        The findings neither a `nova: allow` comment nor the baseline accepts, in file order.

    Raises:
        UsageError: the folder does not exist, the baseline cannot be read, or git failed.
    """
    accepted = Baseline.load(os.fspath(baseline)) if baseline is not None else None
    prints = Fingerprints(accepted.salt if accepted else None)
    return not_accepted(find(os.fspath(root), fingerprints=prints), accepted)


__all__ = ["Mode", "ScanFinding", "find", "not_accepted", "preview", "scan_repository"]
