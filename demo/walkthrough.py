"""A guided tour of nova-config on made-up data, every step a command whose outcome is checked.

The places settings come from (environment, secret files, `.env`, Vault, AWS Secrets Manager),
which one wins, how `nova-config check` reports provenance, how staging and production fail fast,
and what happens when a store is down. Run it with `make demo`; CI runs it after the tests.

Each step is data (`Step`): its environment, the files it writes, the command, the exit status it
must end with and the phrases its output must and must not hold. Every command runs in a clean
environment built once (PATH, HOME in the scratch folder, LANG, then the step's own variables), so
nothing of the caller's shell (a real VAULT_TOKEN, an AWS profile, a NOVA_ENV) steers it. Steps 7
and 8 use the tests' own servers: the OpenBao dev server of `tests/support/openbao.py` and the
moto server of `tests/support/moto.py`, both on 127.0.0.1, both stopped however the tour ends.

Every demo value is fake but shaped like the real thing. The tour never prints one: commands and
files are shown with them as ***, command output is printed as it is, and the last step searches
everything printed for each demo secret. Exit status 0 only when every step behaved as expected.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import string
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

# The project's root: the tests' servers are reused from tests.support, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.moto import MotoServer
from tests.support.openbao import OpenBao
from tour_steps import SECTIONS, Secret, Section, Step, Want  # this folder's module

VERIFY = Path(__file__).resolve().parent / "verify.py"
COMMAND_TIMEOUT = 60.0  # seconds; a Vault that is down is noticed in about 1 s (NOVA_VAULT_*)
TRACEBACK = "Traceback (most recent call last)"  # the CLI promises none, in any step


# --- running the steps ---------------------------------------------------------------------------


class StepFailedError(Exception):
    """A step did not behave as the tour says it does."""


def cells(line: str) -> list[str]:
    """The columns of a table line (`check` and `bao` both separate them by 2+ spaces)."""
    return [cell for cell in line.strip().split("  ") if cell.strip()]


def has_row(output: str, row: tuple[str, ...]) -> bool:
    """Whether some line of `output` starts with exactly these cells."""
    return any(
        [cell.strip() for cell in cells(line)][: len(row)] == list(row)
        for line in output.splitlines()
    )


def has_json_field(output: str, want: Mapping[str, object]) -> bool:
    """Whether `check --json` printed a field holding every key and value of `want`."""
    try:
        fields = json.loads(output)["fields"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(all(entry.get(k) == v for k, v in want.items()) for entry in fields)


def listing(folder: Path, root: Path) -> list[str]:
    """The names under `folder` (and link targets), relative to `root`, sorted; no contents."""
    lines = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(root).as_posix()
        lines.append(f"{name} -> {path.readlink()}" if path.is_symlink() else name)
    return lines


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, so that a server being started is known
    (and stopped by the caller's `finally`) before the walkthrough gives up."""
    caught: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


class Tour:
    """The walkthrough's state: scratch folder, transcript, secrets to mask, running servers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        home = root / "home"
        home.mkdir()
        # Built once, with nothing of the caller's environment but PATH: the interpreter's folder
        # first (nova-config, python and bao of the project's .venv), then the caller's.
        # LANG is fixed so that every machine prints the same transcript.
        self.clean_env = {
            "PATH": os.pathsep.join(
                (str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath))
            ),
            "HOME": str(home),
            "LANG": "C.UTF-8",
        }
        self.lines: list[str] = []
        self.secrets = {secret.name: secret.value for secret in Secret}
        self.context: dict[str, str] = {}
        self.vault: OpenBao | None = None
        self.moto: MotoServer | None = None

    # --- transcript ------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        """Print a line (or several) and keep it for the final leak search."""
        print(text, flush=True)
        self.lines.extend(text.split("\n"))

    def masked(self, text: str) -> str:
        """`text` with every demo secret replaced by *** (longest first: a URL holds a token)."""
        for value in sorted(self.secrets.values(), key=len, reverse=True):
            text = text.replace(value, "***")
        return text

    def fill(self, template: str) -> str:
        """A template of the step data with its `$names` filled in."""
        return string.Template(template).substitute(self.context)

    # --- servers ---------------------------------------------------------------------------------

    def start_vault(self) -> None:
        """Start the tests' OpenBao dev server (in memory, plain http on a free port)."""
        with signals_held():
            try:
                self.vault = OpenBao(self.root / "openbao")
            except Exception as exc:
                # A failed start-up (ServerStartError, or a failed request while setting the
                # server up); the message ends with the server's log, root token included.
                kept = [
                    line
                    for line in str(exc).splitlines()
                    if not any(s in line for s in ("Root Token", "Unseal Key", "root-token-id"))
                ]
                raise StepFailedError("\n".join(kept)) from None
        self.secrets["VAULT_ROOT_TOKEN"] = self.vault.root_token
        self.context |= {
            "vault_addr": self.vault.addr,
            "vault_token": self.vault.root_token,
            "vault_pid": str(self.vault.pid),
        }
        self.say(
            f"(OpenBao dev server of tests/support/openbao.py running as PID {self.vault.pid}"
            f" at {self.vault.addr}, in memory; it serves the secret/ mount, KV v2)"
        )

    def start_moto(self) -> None:
        """Start the tests' moto server (in this process, on a port the OS chose)."""
        # moto logs each request line through werkzeug; the transcript shows the commands' output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        with signals_held():
            self.moto = MotoServer()
        self.context["moto_url"] = self.moto.url
        self.say(
            f"(moto server of tests/support/moto.py running in this process at {self.moto.url})"
        )

    def stop_vault(self) -> None:
        """Stop the dev server by its PID (SIGTERM, then SIGKILL) and reap it."""
        if self.vault is not None:
            self.vault.stop()
            self.vault = None

    def stop_servers(self) -> None:
        """Stop whatever is still running; called however the tour ends."""
        self.stop_vault()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None

    # --- steps -----------------------------------------------------------------------------------

    def run_section(self, number: int, section: Section) -> None:
        """Run a section's steps in its own working folder, with an empty secrets folder."""
        workdir = self.root / f"step{number}"
        (workdir / "no-secrets").mkdir(parents=True)
        self.context["workdir"] = str(workdir)
        self.say()
        self.say(f"== {number}. {section.title} ==")
        self.say(
            f"(clean environment; working folder {workdir};"
            " NOVA_SECRETS_DIR=no-secrets, an empty folder there)"
        )
        if section.server == "vault":
            self.start_vault()
        elif section.server == "moto":
            self.start_moto()
        # The machine's /run/secrets is never read: each section has an empty folder of its own.
        base = {"NOVA_SECRETS_DIR": str(workdir / "no-secrets")}
        shown = base
        for letter, step in zip(string.ascii_lowercase, section.steps, strict=False):
            label = f"{number}{letter}" if len(section.steps) > 1 else str(number)
            env = base | {name: self.fill(value) for name, value in step.env.items()}
            try:
                self.run_step(label, step, workdir, shown, env)
            except StepFailedError as exc:
                raise StepFailedError(f"step {label} ({step.title}): {exc}") from None
            shown = env

    def prepare(self, step: Step, workdir: Path) -> None:
        """Stop, remove, write and show what the step asks for, before its command."""
        if step.stop_vault:
            self.say(f"$ kill {self.context['vault_pid']}   # stop the OpenBao dev server")
            self.stop_vault()
        for name in step.remove:
            (workdir / name).unlink()
            self.say(f"$ rm {name}")
        for name, text in step.files.items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for name, target in step.links.items():
            (workdir / name).symlink_to(target)
        for name in step.show:
            self.say(f"$ cat {name}   # demo secrets shown as ***")
            self.say(self.masked((workdir / name).read_text(encoding="utf-8")).rstrip("\n"))
        if step.listing:
            folders = " and ".join(step.listing)
            self.say(f"(what {folders} hold: names and link targets, never contents)")
            for folder in step.listing:
                for line in listing(workdir / folder, workdir):
                    self.say(line)

    def show_env(self, before: Mapping[str, str], env: Mapping[str, str]) -> None:
        """Show what changed in the environment since the previous step, secrets as ***."""
        for name in before.keys() - env.keys():
            self.say(f"$ unset {name}")
        for name, value in env.items():
            if before.get(name) != value:
                self.say(f"$ export {name}={self.masked(value)}")

    def run_step(
        self,
        label: str,
        step: Step,
        workdir: Path,
        before: Mapping[str, str],
        env: Mapping[str, str],
    ) -> None:
        """Show and run one step, then hold its outcome to what the step says."""
        self.say()
        self.say(f"-- {label}. {step.title} --")
        self.prepare(step, workdir)
        self.show_env(before, env)
        if step.note:
            self.say(f"({step.note})")
        command = " ".join(step.argv)
        if step.stdin:
            self.say(f"$ {command} <<'EOF'\n{step.stdin}EOF")
        else:
            self.say(f"$ {command}")
        output, status = self.run(step.argv, env, workdir, step.stdin)
        self.say(f"exit status: {status}")
        if status != step.status:
            raise StepFailedError(f"'{command}' exited {status}; the tour expected {step.status}")
        self.check_output(step, output)
        if step.wants:
            self.verify(step.wants, env, workdir)

    def run(
        self, argv: tuple[str, ...], env: Mapping[str, str], workdir: Path, stdin: str = ""
    ) -> tuple[str, int]:
        """Run a command in the clean environment plus `env`; print its output as it is."""
        try:
            done = subprocess.run(
                argv,
                env=self.clean_env | dict(env),
                cwd=workdir,
                input=stdin or None,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise StepFailedError(f"did not finish within {COMMAND_TIMEOUT:.0f} s") from None
        # Output is printed unmasked on purpose: the final step proves it holds no secret.
        for stream in (done.stdout, done.stderr):
            if stream:
                self.say(stream.rstrip("\n"))
        return done.stdout + done.stderr, done.returncode

    def check_output(self, step: Step, output: str) -> None:
        """The phrases, table rows and JSON fields the step expects, and no traceback."""
        for phrase in step.said:
            if self.fill(phrase) not in output:
                raise StepFailedError(f"the output does not say: {self.fill(phrase)}")
        for phrase in (*step.not_said, TRACEBACK):
            if self.fill(phrase) in output:
                raise StepFailedError(f"the output says: {self.fill(phrase)}")
        for row in step.rows:
            filled = tuple(self.fill(cell) for cell in row)
            if not has_row(output, filled):
                raise StepFailedError(f"no line starts with {'  '.join(filled)}")
        for want in step.json_fields:
            if not has_json_field(output, want):
                raise StepFailedError(f"check --json has no field with {want}")

    def verify(self, wants: tuple[Want, ...], env: Mapping[str, str], workdir: Path) -> None:
        """Check in Python (demo/verify.py) where each field came from and its exact value."""
        specs = tuple(f"{want.field}|{want.origin}" for want in wants)
        values = {f"DEMO_WANT_{want.field}": want.value for want in wants}
        names = " ".join(want.field for want in wants)
        # The values go in through the environment; only field names are ever printed.
        done = subprocess.run(
            ("python", str(VERIFY), *specs),
            env=self.clean_env | dict(env) | values,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            self.say((done.stdout + done.stderr).rstrip("\n"))
            raise StepFailedError(f"the Python check of {names} failed")
        self.say(
            f"(checked in Python by demo/verify.py, values not shown: {names}"
            " came from the expected place with the exact demo value)"
        )

    def search_for_secrets(self, number: int) -> None:
        """The last step: no demo secret value anywhere in what the tour printed."""
        self.say()
        self.say(f"== {number}. No demo secret appears in the output above ==")
        text = "\n".join(self.lines)
        leaked = [name for name, value in self.secrets.items() if value in text]
        if leaked:
            raise StepFailedError(
                f"step {number}: demo secret values appeared in the output: {' '.join(leaked)}"
            )
        self.say(
            f"searched all {len(self.lines)} lines of output for the {len(self.secrets)}"
            " demo secret values: none found"
        )


def missing_tools(path: str) -> list[str]:
    """The commands the tour runs that are not on `path`."""
    return [
        tool for tool in ("nova-config", "python", "bao") if shutil.which(tool, path=path) is None
    ]


def terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM ends the tour as Ctrl-C does: through the `finally` that stops the servers."""
    raise SystemExit(128 + signum)


def main() -> int:
    """Run every section, then the leak search.

    Returns:
        0 when every step behaved as expected, 1 otherwise (which step and why on stderr).
    """
    signal.signal(signal.SIGTERM, terminate)
    with tempfile.TemporaryDirectory(prefix="nova-config-demo.") as scratch:
        tour = Tour(Path(scratch))
        missing = missing_tools(tour.clean_env["PATH"])
        if missing:
            print(
                f"walkthrough: not found: {', '.join(missing)}; run it with 'make demo'",
                file=sys.stderr,
            )
            return 1
        try:
            tour.say("nova-config walkthrough on fake demo data (secret values are shown as ***)")
            for number, section in enumerate(SECTIONS, start=1):
                tour.run_section(number, section)
            tour.search_for_secrets(len(SECTIONS) + 1)
        except StepFailedError as exc:
            print(f"\nwalkthrough FAILED: {tour.masked(str(exc))}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nwalkthrough interrupted", file=sys.stderr)
            return 130
        finally:
            tour.stop_servers()
    tour.say()
    tour.say("walkthrough complete: every step behaved as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
