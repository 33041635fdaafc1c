"""`nova-config scan`: each detector, each placeholder, allowing, baselines, git modes, no leaks."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nova_config.errors import UsageError
from nova_config.scan import preview, scan_repository
from nova_config.scan_cli import main
from nova_config.scan_rules import detect

ROOT = Path(__file__).resolve().parent.parent
HOOK = "https://discord.com/api/webhooks/123456789012345678/" + "aB3_-" * 13 + "xyz"
B40 = "k2L9mQwz81xPq7Rt5Uv3Yw0Zb4Nc6Md8Fg1Hj/+Q"

# (file, line, rule): every detector, in the syntaxes it must read.
POSITIVE = [
    ("a.env", f"DISCORD_WEBHOOK_URL={HOOK}", "discord-webhook"),
    ("a.py", f'HOOK = "{HOOK.replace("discord.com", "ptb.discordapp.com")}"', "discord-webhook"),
    ("a.yaml", f"hook: {HOOK.replace('discord.com', 'canary.discord.com')}", "discord-webhook"),
    ("a.env", "ALPACA_API_KEY=PK1A2B3C4D5E6F7G8H9J", "alpaca-key-id"),
    ("a.py", 'key = "AKZ9Y8X7W6V5U4T3S2R1"', "alpaca-key-id"),
    ("a.yaml", f"APCA_API_SECRET_KEY: {B40}", "alpaca-secret-key"),
    ("a.py", f'alpaca_secret = "{B40}"', "alpaca-secret-key"),
    ("a.json", '{"t": "hvs.CAESIJ1234567890abcdefghijklmnop"}', "vault-token"),
    ("a.sh", "export VAULT_TOKEN=hvb.AAAAAQJ1234567890abcdefghijklmnopq", "vault-token"),
    ("a.toml", 'r = "hvr.AbCdEfGhIjKlMnOpQrStUvWx12"', "vault-token"),
    ("a.py", 'VAULT = "s.AbCdEfGhIjKlMnOpQrStUv12"', "vault-token"),
    ("credentials", "aws_access_key_id = AKIAZ5ABCDEFGHIJKLMN", "aws-access-key-id"),
    ("a.yaml", "AccessKeyId: ASIAZ5ABCDEFGHIJKLMN", "aws-access-key-id"),
    ("credentials", f"aws_secret_access_key = {B40}", "aws-secret-access-key"),
    ("a.env", f"AWS_SECRET_ACCESS_KEY={B40}", "aws-secret-access-key"),
    ("a.py", 'URL = "postgresql://nova:p@ss!w0rd#x@db:5432/nova"', "postgres-url"),
    ("a.yaml", "url: postgres://trader:S3cr%40t-9x@ts.internal/market", "postgres-url"),
    ("a.toml", 'dsn = "postgresql+psycopg://app:Zx9$Qw!e@ts:5432/db"', "postgres-url"),
    ("id_rsa", "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEpAIBAAKCAQEA" * 4, "private-key"),
    ("a.json", '{"k": "-----BEGIN PRIVATE KEY-----\\n' + "MIIEvQIBADAN" * 4 + '"}', "private-key"),
    ("a.env", "TIMESCALE_PASSWORD=Tr4d3r!-night", "model-secret"),
    ("compose.yml", '  DB_PASSWORD: "q9Lm#2vX!pz"', "model-secret"),
    ("a.py", 'STAGING_ALPACA_SECRET_KEY = "k2L9mQ-wz81xP"', "model-secret"),
    ("a.sh", "export REDIS_PASSWORD='Ghp-29xLq!'", "secret-assignment"),
    ("a.json", '{"api_key": "sk_live_51HqL2mK9zXw"}', "secret-assignment"),
    ("a.toml", 'github_token = "ghp_abcdef123456"', "secret-assignment"),
    ("a.py", 'login(user, password="m4il-Pa55word")', "secret-assignment"),
    ("a.py", 'self.dbPassword = "hunter2hunter"', "secret-assignment"),
    ("a.py", 'password: str = "hunter2hunter"', "secret-assignment"),
    ("a.yml", "smtp_password: Wq7-mail-9zz", "secret-assignment"),
    ("secrets", "STRIPE_SECRET=rk_live_9f8e7d6c5b4a", "secret-assignment"),
    ("a.cfg", "client_secret := Zq8-client-77", "secret-assignment"),
]

# (file, line): placeholders, references and fakes, never reported.
NEGATIVE = [
    (".env.example", "TIMESCALE_PASSWORD=Tr4d3r!-night"),
    ("app.env.example", "ALPACA_API_KEY=PK1A2B3C4D5E6F7G8H9J"),
    ("a.env", "TIMESCALE_PASSWORD=your-timescale-password-here"),
    ("a.env", "API_KEY=<your api key>"),
    ("a.env", "API_KEY=changeme"),
    ("a.env", "AUTH_TOKEN=xxxxxxxxxxxxxxxx"),
    ("a.env", "AUTH_TOKEN=sk-xxxx-xxxx-xxxx"),
    ("a.env", "WEBHOOK_SECRET=***"),
    ("a.env", "WEBHOOK_SECRET=*****hidden"),
    ("a.env", "VAULT_TOKEN=${VAULT_TOKEN}"),
    ("a.env", "VAULT_TOKEN=$VAULT_TOKEN"),
    ("a.env", "REDIS_PASSWORD="),
    ("a.env", 'REDIS_PASSWORD=""'),
    ("a.py", 'password = os.environ["DB_PASSWORD"]'),
    ("a.py", 'token = os.getenv("VAULT_TOKEN")'),
    ("a.py", "token = settings.vault_token"),
    ("a.py", 'conn = f"postgresql://{user}:{password}@{host}/db"'),
    ("a.py", 'if token == "abcdefghijkl":'),
    ("a.md", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    ("a.md", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("a.yaml", "password: ${DB_PASSWORD}"),
    ("a.yaml", 'password: "{{ vault_password }}"'),
    ("a.yaml", "url: postgres://postgres:postgres@localhost:5432/test"),
    ("a.yaml", "url: postgresql://app:${DB_PASSWORD}@db/app"),
    ("a.yaml", "url: postgresql://app:<password>@db/app"),
    ("a.py", 'if text.startswith("-----BEGIN RSA PRIVATE KEY-----"):'),
    ("a.py", "    password: SecretStr = Field(description='the password')"),
    ("a.md", "Set `DISCORD_WEBHOOK_URL=https://discord.com/api/webhooks/<id>/<token>`."),
    ("a.json", '{"jsonwebtoken": "^9.0.2", "js-tokens": "4.0.0"}'),
    (
        "poetry.lock",
        'hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"',
    ),
    ("a.yaml", "request_id: 550e8400-e29b-41d4-a716-446655440000"),
    ("a.env", "ALPACA_API_KEY=PKXXXXXXXXXXXXXXXXXX"),
    ("a.py", "x = 'AKIA1234' + 'PKABCDEF'"),
    ("a.md", "The TOKEN: is required for every call"),
    ("a.yaml", "token: true"),
    ("a.py", "max_tokens = 4096"),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command's exit status, standard output and standard error."""
    code = main(["scan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def git(repo: Path, *args: str) -> str:
    """Run git in a repository with a fixed identity; its output."""
    command = ["git", "-c", "user.email=t@example.org", "-c", "user.name=T", "-C", str(repo)]
    done = subprocess.run([*command, *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository."""
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q")
    return folder


@pytest.mark.parametrize(("name", "line", "rule"), POSITIVE)
def test_each_detector_finds_its_secret(name: str, line: str, rule: str) -> None:
    """Every shape in every syntax is found, under its own rule, once."""
    assert [m.rule for m in detect(f"# head\n{line}\n", name)] == [rule]


@pytest.mark.parametrize(("name", "line"), NEGATIVE)
def test_placeholders_references_and_fakes_are_not_reported(name: str, line: str) -> None:
    """Placeholders, references, reads, empty values and documented fakes are no finding."""
    assert list(detect(line + "\n", name)) == []


def test_output_line_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`path:line: rule: preview`, exit 1 with a finding and 0 when clean."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.env").write_text("X=1\nTIMESCALE_PASSWORD=Tr4d3r!-night\n")
    code, out, _ = run(capsys, str(tmp_path))
    assert (code, out) == (1, "conf/app.env:2: model-secret: Tr4…\n")
    (tmp_path / "conf" / "app.env").write_text("X=1\n")
    assert run(capsys, str(tmp_path))[:2] == (0, "")


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json: path relative to the folder with `/`, 1-based line, rule, fingerprint."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.py").write_text('\n\nKEY = "AKIAZ5ABCDEFGHIJKLMN"\n')
    code, out, _ = run(capsys, "--json", str(tmp_path))
    [finding] = json.loads(out)
    assert code == 1
    assert (finding["path"], finding["line"], finding["rule"]) == ("a/b.py", 3, "aws-access-key-id")
    assert len(finding["fingerprint"]) == 32
    assert finding["preview"] == "AKIA…"


def test_preview_never_shows_more_than_a_quarter() -> None:
    """At most four characters, and fewer for a short secret."""
    assert preview("abcdefghijklmnop") == "abcd…"
    assert preview("abcdefg") == "a…"
    assert preview("abc") == "…"


def test_inline_pragma_allows_a_line(tmp_path: Path) -> None:
    """A `nova: allow` comment allows its own line only."""
    (tmp_path / "a.env").write_text(
        "API_TOKEN=abcdef123456  # nova: allow\nAPI_TOKEN=abcdef123456\n"
    )
    assert [f.line for f in scan_repository(tmp_path)] == [2]


def test_baseline_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An accepted finding stays accepted when it moves; a changed secret is reported."""
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    secret_file = code_dir / "a.env"
    secret_file.write_text("API_TOKEN=abcdef123456\n")
    baseline = tmp_path / "baseline.json"
    assert run(capsys, str(code_dir), "--baseline", str(baseline), "--update-baseline")[0] == 0
    stored = baseline.read_text()
    assert "abcdef123456" not in stored
    assert json.loads(stored)["findings"][0]["path"] == "a.env"
    secret_file.write_text("X=1\nY=2\nAPI_TOKEN=abcdef123456\n")
    assert run(capsys, str(code_dir), "--baseline", str(baseline))[:2] == (0, "")
    assert scan_repository(code_dir, baseline=baseline) == []
    secret_file.write_text("X=1\nAPI_TOKEN=abcdef654321\n")
    code, out, _ = run(capsys, str(code_dir), "--baseline", str(baseline))
    assert (code, out) == (1, "a.env:2: secret-assignment: abc…\n")


def test_fingerprints_are_salted_scrypt_not_a_plain_hash(tmp_path: Path) -> None:
    """The same secret fingerprints alike within a baseline, differently under another salt."""
    import hashlib  # noqa: PLC0415 - only this test compares with plain hashes

    (tmp_path / "a.env").write_text("API_TOKEN=abcdef123456\nOTHER_TOKEN=abcdef123456\n")
    first = scan_repository(tmp_path)
    assert first[0].fingerprint == first[1].fingerprint
    assert scan_repository(tmp_path)[0].fingerprint != first[0].fingerprint
    plain = {hashlib.new(n, b"abcdef123456").hexdigest()[:32] for n in ("md5", "sha1", "sha256")}
    assert first[0].fingerprint not in plain


def test_walk_skips_vcs_venvs_node_modules_binary_and_large(tmp_path: Path) -> None:
    """Outside git: .git, virtualenvs, node_modules, binary and >1 MiB files are not read."""
    line = b"API_TOKEN=abcdef123456\n"
    for folder in (".git", "node_modules/x", ".venv", "venv", "env3"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "a.env").write_bytes(line)
    (tmp_path / "env3" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "blob.bin").write_bytes(b"\0" + line)
    (tmp_path / "big.env").write_bytes(line + b"#" * (1024 * 1024))
    (tmp_path / "kept.env").write_bytes(line)
    (tmp_path / "link.env").symlink_to(tmp_path / "kept.env")
    assert [f.path for f in scan_repository(tmp_path)] == ["kept.env"]


def test_work_tree_uses_git_files_and_skips_ignored(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a work tree: tracked and untracked files are read, ignored ones are not."""
    (repo / ".gitignore").write_text("ignored.env\n")
    for name in ("tracked.env", "untracked.env", "ignored.env"):
        (repo / name).write_text("API_TOKEN=abcdef123456\n")
    git(repo, "add", ".gitignore", "tracked.env")
    assert sorted(f.path for f in scan_repository(repo)) == ["tracked.env", "untracked.env"]


def test_history_finds_a_removed_secret_once(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--history reports a secret deleted later, at the commit that added it, once."""
    secret_file = repo / "app.py"
    secret_file.write_text('x = 1\nKEY = "AKIAZ5ABCDEFGHIJKLMN"\n')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    added = git(repo, "rev-parse", "--short", "HEAD").strip()
    secret_file.write_text('x = 1\ny = 2\nKEY = "AKIAZ5ABCDEFGHIJKLMN"\n')
    git(repo, "commit", "-qam", "two")
    secret_file.write_text("x = 1\n")
    git(repo, "commit", "-qam", "three")
    assert run(capsys, str(repo))[0] == 0
    code, out, _ = run(capsys, "--history", str(repo))
    assert (code, out) == (1, f"app.py:2: aws-access-key-id: AKIA… (commit {added})\n")


def test_staged_scans_only_staged_lines(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--staged reads what is staged, with its line in the staged file, not the work tree."""
    (repo / "a.env").write_text("X=1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    (repo / "a.env").write_text("X=1\nTIMESCALE_PASSWORD=Tr4d3r!-night\n")
    (repo / "unstaged.env").write_text("API_TOKEN=abcdef123456\n")
    assert run(capsys, "--staged", str(repo))[:2] == (0, "")
    git(repo, "add", "a.env")
    code, out, _ = run(capsys, "--staged", str(repo))
    assert (code, out) == (1, "a.env:2: model-secret: Tr4…\n")


def test_pre_commit_hook_entry_in_a_real_repository(repo: Path) -> None:
    """The hook parses; its entry exits 1 with a staged secret and 0 when clean."""
    import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - PyYAML (a dev tool's dependency, no stubs), only here

    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["language"], hook["pass_filenames"]) == (
        "nova-config-scan",
        "python",
        False,
    )
    program, *arguments = shlex.split(hook["entry"])
    assert program == "nova-config"
    # The entry as pre-commit runs it: the installed command, from the hook's environment.
    command = [str(Path(sys.executable).with_name(program)), *arguments]
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", ".")
    assert (
        subprocess.run(command, cwd=repo, capture_output=True, check=False, timeout=60).returncode
        == 0
    )
    (repo / "b.py").write_text('TOKEN = "hvs.CAESIJ1234567890abcdefghijklmnop"\n')
    git(repo, "add", "b.py")
    done = subprocess.run(
        command, cwd=repo, capture_output=True, text=True, check=False, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, "b.py:1: vault-token: hvs.…\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing-folder"], "does not exist"),
        (["--baseline", "missing.json"], "does not exist"),
        (["--baseline", "bad.json"], "is not JSON"),
        (["--baseline", "other.json"], "not a nova-config scan baseline"),
        (["--update-baseline"], "needs --baseline"),
        (["--staged"], "git work tree"),
        (["--staged", "--history"], "not allowed with"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing path, an unreadable baseline, or a bad combination exits 2, saying why."""
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "other.json").write_text('{"version": 1}')
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_scan_repository_raises_usage_error(tmp_path: Path) -> None:
    """The API raises UsageError for a missing folder."""
    with pytest.raises(UsageError, match="does not exist"):
        scan_repository(tmp_path / "nope")


def test_detect_secrets_loads_the_plugins(tmp_path: Path) -> None:
    """`detect-secrets scan --plugin nova_config/scan_plugin.py` reports nova-config's rules."""
    (tmp_path / "a.env").write_text("TIMESCALE_PASSWORD=Tr4d3r!-night\nAPI_KEY=changeme\n")
    tool = Path(sys.executable).parent / "detect-secrets"
    plugin = ROOT / "nova_config" / "scan_plugin.py"
    done = subprocess.run(
        [str(tool), "scan", "--plugin", str(plugin), "a.env"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(done.stdout)["results"]["a.env"]
    assert {(r["type"], r["line_number"]) for r in results if "nova" in r["type"]} == {
        ("nova-config model-secret", 1)
    }


_CANARY_TAIL = st.text(
    alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789", min_size=16, max_size=40
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tail=_CANARY_TAIL, shape=st.sampled_from(range(5)))
def test_output_never_shows_more_than_the_preview(
    tail: str, shape: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A canary's fifth and later characters never appear in text or JSON output."""
    canary = "Zq9" + tail
    line = [
        f"API_TOKEN={canary}",
        f'password = "{canary}"',
        f"url: postgresql://u:{canary}@db/x",
        f"DISCORD_WEBHOOK_URL=https://discord.com/api/webhooks/123456/{canary}",
        f'{{"client_secret": "{canary}"}}',
    ][shape]
    folder = tmp_path_factory.mktemp("canary")
    (folder / "f.cfg").write_text(f"# nothing\n{line}\n")
    for extra in ([], ["--json"]):
        command = [sys.executable, "-m", "nova_config.scan_cli", "scan", *extra, str(folder)]
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, env=os.environ, timeout=60
        )
        assert done.returncode == 1
        assert canary[4:] not in done.stdout + done.stderr
        assert canary[3:7] not in done.stdout + done.stderr
