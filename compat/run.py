"""Runs pydantic-settings' own tests on `BaseSettings`, then on nova-config's `SecretSettings`.

The tests come from the sdist of the installed pydantic-settings, downloaded once into
`compat/.cache/` (never committed). Each run is a pytest subprocess under upstream's own warning
filters; the second loads `swap_plugin`, which rebinds `pydantic_settings.BaseSettings`. The
figure is the share of the tests passing on `BaseSettings` that also pass on `SecretSettings`.
It is a measurement: the exit status is 0 whatever the figure, unless `--min-percent` is given
(then 1 below it); 2 means the harness itself broke.
"""

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
DIST = "pydantic-settings"
TEST_FILES = ("test_settings.py", "test_precedence_and_merging.py", "test_source_nested_secrets.py")
# Upstream's folder has more tests; these three are the ones the issue measures by.
SUPPORT_FILES = ("conftest.py",)
# One run takes seconds; a load that hangs must not hang the harness.
RUN_TIMEOUT = 1200
# The machine's own store and nova-config settings would change what either run reads.
CLEARED_PREFIXES = ("NOVA_", "VAULT_", "AWS_")
CLEARED_NAMES = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


class HarnessError(Exception):
    """The measurement could not be made: download, extraction or a pytest run broke."""


@dataclass
class Run:
    """The outcomes of one pytest run, by node id."""

    label: str
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)

    def ids(self, outcome: str) -> set[str]:
        return {nodeid for nodeid, got in self.outcomes.items() if got == outcome}


def sdist(dist_version: str) -> Path:
    """The sdist of `pydantic-settings==dist_version` in the cache, downloaded if missing."""
    stem = DIST.replace("-", "_")
    names = (f"{stem}-{dist_version}.tar.gz", f"{DIST}-{dist_version}.tar.gz")
    found = [CACHE / name for name in names if (CACHE / name).is_file()]
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", f"{DIST}=={dist_version}"]
    command += ["--no-binary", ":all:", "--no-deps", "--quiet", "-d", str(CACHE)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = [CACHE / name for name in names if (CACHE / name).is_file()]
    if done.returncode != 0 or not found:
        raise HarnessError(f"pip download of {DIST}=={dist_version} failed:\n{done.stderr}")
    return found[0]


def local_imports(source: str, available: Iterable[str]) -> set[str]:
    """The modules of the tests folder (`available`, without `.py`) that `source` imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names.add(module)
            # `from tests import helper` and `from . import helper` name the module last.
            names.update(f"{module}.{alias.name}".strip(".") for alias in node.names)
    local = set()
    for name in names:
        parts = name.split(".")
        if parts[0] == "tests":
            parts = parts[1:]
        if parts and parts[0] in available:
            local.add(parts[0])
    return local


def extract(archive: Path, dist_version: str) -> tuple[Path, list[str]]:
    """A fresh copy of the measured tests, their helpers and a pytest.ini with upstream's filters.

    Returns:
        The folder (pytest's rootdir) and the test files in it, relative to it.
    """
    root = CACHE / f"{DIST}-{dist_version}"
    shutil.rmtree(root, ignore_errors=True)
    with tarfile.open(archive) as tar:
        members = {
            PurePosixPath(m.name).relative_to(PurePosixPath(m.name).parts[0]): m for m in tar
        }

        def read(path: str) -> str:
            member = members.get(PurePosixPath(path))
            handle = tar.extractfile(member) if member is not None else None
            if handle is None:
                raise HarnessError(f"{archive.name} has no {path}")
            return handle.read().decode("utf-8")

        available = {
            path.stem
            for path in members
            if path.parent == PurePosixPath("tests") and path.suffix == ".py"
        }
        wanted = list(SUPPORT_FILES + TEST_FILES)
        for name in wanted:  # grows while helpers are found
            text = read(f"tests/{name}")
            (root / "tests").mkdir(parents=True, exist_ok=True)
            (root / "tests" / name).write_text(text, encoding="utf-8")
            for module in sorted(local_imports(text, available)):
                if f"{module}.py" not in wanted:
                    wanted.append(f"{module}.py")
        upstream = tomllib.loads(read("pyproject.toml"))
    ini = upstream.get("tool", {}).get("pytest", {}).get("ini_options", {})
    lines = ["[pytest]", "# Written by compat/run.py: upstream's own warning filters."]
    lines += ["filterwarnings ="] + [f"    {entry}" for entry in ini.get("filterwarnings", [])]
    (root / "pytest.ini").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, [f"tests/{name}" for name in TEST_FILES]


def child_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The process environment for a pytest run, with the plugins' folder on the path."""
    env = {
        name: value
        for name, value in environ.items()
        if not name.startswith(CLEARED_PREFIXES) and name not in CLEARED_NAMES
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), environ.get("PYTHONPATH")]))
    return env


def run_suite(root: Path, tests: list[str], label: str, swap: bool) -> Run:
    """One pytest subprocess over the tests; its outcomes read from the record plugin's file."""
    record = CACHE / f"{label}.jsonl"
    log = CACHE / f"{label}.log"
    command = [sys.executable, "-m", "pytest", *tests, "-q", "--tb=line", "-p", "no:cacheprovider"]
    command += ["--rootdir", str(root), "-c", str(root / "pytest.ini"), "-o", "addopts="]
    command += ["-p", "record_plugin", "--compat-record", str(record)]
    if swap:
        command += ["-p", "swap_plugin"]
    record.unlink(missing_ok=True)
    try:
        done = subprocess.run(
            command,
            cwd=root,
            env=child_environ(os.environ),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"the {label} run took more than {RUN_TIMEOUT} s") from exc
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    # pytest exits 1 when tests fail, which is what is being measured; anything else is a break.
    if done.returncode not in (0, 1) or not record.is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise HarnessError(f"the {label} run exited {done.returncode} (log: {log}):\n{tail}")
    return read_record(record, label)


def read_record(record: Path, label: str) -> Run:
    """One outcome per test, as pytest counts it: an error in setup or teardown is an error."""
    phases: dict[str, dict[str, dict[str, object]]] = {}
    run = Run(label)
    for line in record.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["when"] == "collect":
            run.collect_errors[row["nodeid"]] = row["message"]
        else:
            phases.setdefault(row["nodeid"], {})[row["when"]] = row
    for nodeid, by_when in phases.items():
        outcome, message = "passed", ""
        for when in ("setup", "call", "teardown"):
            row = by_when.get(when)
            if row is None or row["outcome"] == "passed":
                continue
            if row["outcome"] == "skipped" or row["xfail"]:
                outcome, message = "skipped", str(row["message"])
            else:
                outcome = "failed" if when == "call" else "error"
                message = str(row["message"])
            break
        run.outcomes[nodeid] = outcome
        run.messages[nodeid] = message
    return run


def differences(base: Run, nova: Run) -> list[tuple[str, str, str]]:
    """The tests that pass on BaseSettings and not on SecretSettings: node id, outcome, message."""
    rows = []
    for nodeid in sorted(base.ids("passed") - nova.ids("passed")):
        if nodeid in nova.outcomes:
            rows.append((nodeid, nova.outcomes[nodeid], nova.messages[nodeid]))
        else:
            module = nodeid.split("::")[0]
            rows.append((nodeid, "not collected", nova.collect_errors.get(module, "")))
    return rows


def summary(dist_version: str, tests: list[str], base: Run, nova: Run) -> tuple[str, float]:
    """The printed table and the percentage of BaseSettings' passing tests that pass on ours."""
    lines = [f"pydantic-settings {dist_version}: {', '.join(tests)}", ""]
    lines.append(f"{'':16}{'passed':>8}{'failed':>8}{'skipped':>9}{'errors':>8}")
    for run in (base, nova):
        counts = [len(run.ids(outcome)) for outcome in ("passed", "failed", "skipped", "error")]
        counts[3] += len(run.collect_errors)
        lines.append(f"{run.label:16}{counts[0]:>8}{counts[1]:>8}{counts[2]:>9}{counts[3]:>8}")
    missing = set(base.outcomes) - set(nova.outcomes)
    if missing:
        lines.append(f"{len(missing)} tests were not collected on {nova.label} (collection errors)")
    passing = base.ids("passed")
    kept = passing & nova.ids("passed")
    percent = 100.0 * len(kept) / len(passing) if passing else 0.0
    lines.append("")
    lines.append(
        f"{nova.label} passes {len(kept)} of the {len(passing)} tests that pass on {base.label}:"
        f" {percent:.1f}%"
    )
    return "\n".join(lines), percent


def main(argv: list[str] | None = None) -> int:
    """Download, run both suites, print the figures.

    Args:
        argv: command-line arguments, without the program name.

    Returns:
        0, or 1 below `--min-percent`, or 2 when the harness broke.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--list",
        action="store_true",
        help=f"write the tests that pass on BaseSettings only to {CACHE / 'differences.txt'}",
    )
    parser.add_argument(
        "--min-percent", type=float, metavar="N", help="exit 1 when the figure is below N"
    )
    args = parser.parse_args(argv)
    dist_version = version(DIST)
    try:
        root, tests = extract(sdist(dist_version), dist_version)
        base = run_suite(root, tests, "BaseSettings", swap=False)
        nova = run_suite(root, tests, "SecretSettings", swap=True)
    except HarnessError as exc:
        print(f"compat: {exc}", file=sys.stderr)
        return 2
    text, percent = summary(dist_version, tests, base, nova)
    print(text)
    if args.list:
        path = CACHE / "differences.txt"
        rows = differences(base, nova)
        path.write_text("".join(f"{n}\t{got}\t{why}\n" for n, got, why in rows), encoding="utf-8")
        print(f"{len(rows)} differences (node id, outcome, first line) in {path}")
    if args.min_percent is not None and percent < args.min_percent:
        print(f"below the minimum of {args.min_percent:g}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
