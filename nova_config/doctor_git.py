"""Doctor's repository items: secrets kept out of git (1) and no hardcoded secrets (3)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from nova_config.doctor import BASELINE_NAME, FAIL, PASS, WARN, Context, Outcome, listed
from nova_config.errors import UsageError
from nova_config.sources.base import ENVIRONMENTS
from nova_config.sources.files import DEFAULT_SECRETS_DIR

GIT_TIMEOUT = 10.0  # seconds for each git command: a hung git (a lock, a prompt) is given up
_PROBE = "nova-doctor-probe"
# Untracked files that must be ignored, wherever they are (pathspecs for `git ls-files`).
_SECRET_SPECS = (":(glob)**/.env", ":(glob)**/.env.*", ":(glob)**/*.pem", ":(glob)**/*.key")
_GITIGNORE = ".env, .env.*, !.env.example, *.pem, *.key"


def git(cwd: str, *args: str) -> subprocess.CompletedProcess[str] | None:
    """Run one git command in `cwd` within GIT_TIMEOUT; None when git is missing or hangs."""
    try:
        return subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", cwd, *args],  # noqa: S607 - git from PATH, as a developer runs it
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def toplevel(cwd: str) -> str | None:
    """The top folder of the git work tree holding `cwd`, or None outside one."""
    done = git(cwd, "rev-parse", "--show-toplevel")
    if done is None or done.returncode != 0 or not done.stdout.strip():
        return None
    return done.stdout.strip()


def _env_names(context: Context) -> list[str]:
    """`.env` and its layers, as paths from the root: those present and the usual ones."""
    names = {".env", ".env.local", *(f".env.{name}" for name in ENVIRONMENTS)}
    names.update(p.name for p in Path(context.root).glob(".env.*") if p.name != ".env.example")
    return sorted(names)


def _secrets_dir(context: Context) -> str | None:
    """The first NOVA_SECRETS_DIR folder, relative to the root, when it is inside the repo."""
    raw = context.environ.get("NOVA_SECRETS_DIR", DEFAULT_SECRETS_DIR).split(os.pathsep)[0]
    if not raw:
        return None
    root = os.path.realpath(context.root)
    folder = os.path.realpath(os.path.join(context.cwd, raw))
    if folder == root or not folder.startswith(root + os.sep):
        return None
    return os.path.relpath(folder, root)


def _not_ignored(context: Context, secrets_dir: str | None) -> list[str] | None:
    """What should be ignored and is not (None when git cannot say)."""
    shown = {name: ".env" if name == ".env" else ".env.*" for name in _env_names(context)}
    shown[f"{_PROBE}.pem"] = "*.pem"
    shown[f"{_PROBE}.key"] = "*.key"
    if secrets_dir is not None:
        shown[f"{secrets_dir}/{_PROBE}"] = f"{secrets_dir}/"
    # --no-index: the patterns alone, whether or not a path is tracked (that is checked apart).
    done = git(context.root, "check-ignore", "--no-index", "--", *shown)
    if done is None or done.returncode not in (0, 1):
        return None
    ignored = set(done.stdout.splitlines())
    patterns = dict.fromkeys(label for path, label in shown.items() if path not in ignored)
    untracked = git(
        context.root, "ls-files", "--others", "--exclude-standard", "--", *_SECRET_SPECS
    )
    if untracked is None or untracked.returncode != 0:
        return None
    # The files first: they are what a `git add .` would commit today.
    files = sorted(p for p in untracked.stdout.splitlines() if not p.endswith(".env.example"))
    return list(dict.fromkeys([*files, *patterns]))


def _tracked(context: Context, secrets_dir: str | None) -> list[str] | None:
    """Secret files git tracks (None when git cannot say)."""
    specs = [*_SECRET_SPECS, *([secrets_dir] if secrets_dir else [])]
    done = git(context.root, "ls-files", "--", *specs)
    if done is None or done.returncode != 0:
        return None
    return sorted(p for p in done.stdout.splitlines() if not p.endswith(".env.example"))


def check_git(context: Context) -> Outcome:
    """Item 1: `.env` files, the secrets folder and key files are ignored, and none is tracked."""
    if not context.in_git:
        return Outcome(
            WARN,
            "not inside a git repository (or git is not installed): nothing to check",
            "run doctor from the repository's working tree",
        )
    secrets_dir = _secrets_dir(context)
    missing = _not_ignored(context, secrets_dir)
    tracked = _tracked(context, secrets_dir)
    if missing is None or tracked is None:
        return Outcome(WARN, f"git did not answer within {GIT_TIMEOUT:g} s", "run it again")
    if not missing and not tracked:
        what = ".env files, key files" + (f" and {secrets_dir}/" if secrets_dir else "")
        return Outcome(PASS, f"{what} are ignored, and none is tracked")
    found, fixes = [], []
    if tracked:
        found.append(f"tracked by git: {listed(tracked)}")
        fixes.append(
            f"git rm --cached {' '.join(tracked[:8])}, then rotate them: they stay in the history"
        )
    if missing:
        found.append(f"not ignored: {listed(missing)}")
        extra = f", {secrets_dir}/" if secrets_dir else ""
        fixes.append(f"add to .gitignore: {_GITIGNORE}{extra}")
    return Outcome(FAIL, "; ".join(found), "; ".join(fixes))


def check_scan(context: Context) -> Outcome:
    """Item 3: `nova-config scan` of the repository finds nothing beyond its baseline."""
    try:
        from nova_config.scan import scan_repository  # noqa: PLC0415 - only this item needs it
    except ImportError:
        return Outcome(WARN, "nova-config scan is not available in this version", None)
    baseline_path = Path(context.root) / BASELINE_NAME
    baseline = baseline_path if baseline_path.is_file() else None
    try:
        findings = list(scan_repository(Path(context.root), baseline=baseline))
    except UsageError as exc:  # a baseline that cannot be read, git failing: names, no value
        return Outcome(WARN, f"scan could not run: {exc}", f"nova-config scan {context.root}")
    honoured = f" (baseline {BASELINE_NAME} honoured)" if baseline else ""
    if not findings:
        return Outcome(PASS, f"scan found no hardcoded secret{honoured}")
    # Where and which rule, never the text that matched.
    places = [f"{f.path}:{f.line} ({f.rule})" for f in findings]
    return Outcome(
        FAIL,
        f"scan found {len(findings)} possible secret(s){honoured}: {listed(places, 5)}",
        "move each secret to a store or .env and rotate it; record a false positive in "
        f"{BASELINE_NAME} (nova-config scan)",
    )


__all__ = ["GIT_TIMEOUT", "check_git", "check_scan", "git", "toplevel"]
