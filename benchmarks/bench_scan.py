"""`nova-config scan` beside `detect-secrets scan --all-files` on a generated repository.

The tree has about 2,000 files (Python, YAML, TOML, JSON, .env, lock files, docs), 30 planted
secrets of every shape the scanner knows, in different syntaxes, and decoys that look like
secrets and are not (placeholders, references, documented fakes, lock-file hashes, UUIDs, git
ids). Both tools run as a subprocess on the same tree; the script prints each one's recall,
false positives and time, and the ratio of the times.

    .venv/bin/python benchmarks/bench_scan.py [--files 2000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS = {"recall": 29, "false_positives": 2, "ratio": 0.25}
_RNG = random.Random(20240611)  # noqa: S311 - a seeded corpus, reproducible run to run
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _rand(alphabet: str, size: int) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(size))


def _b40() -> str:
    return _rand(_ALNUM + "/+", 39) + "Q"


def _planted() -> list[tuple[str, str]]:
    """(file, line) pairs, each line holding one planted secret."""
    hook = f"https://discord.com/api/webhooks/{_rand('0123456789', 18)}/{_rand(_ALNUM + '_-', 68)}"
    pem_body = _rand(_ALNUM + "+/", 64)
    return [
        ("deploy/.env", f"DISCORD_WEBHOOK_URL={hook}"),
        (
            "config/alerts.yaml",
            f'  webhook: "https://ptb.discord.com/api/webhooks/{_rand("0123456789", 19)}/'
            f'{_rand(_ALNUM + "-_", 68)}"',
        ),
        (
            "app/notify.py",
            f"HOOK = 'https://canary.discordapp.com/api/webhooks/{_rand('0123456789', 18)}/"
            f"{_rand(_ALNUM, 30)}_-{_rand(_ALNUM, 30)}'",
        ),
        ("deploy/.env", f"ALPACA_API_KEY=PK{_rand(_UPPER, 17)}7"),
        ("app/broker.py", f'client = TradingClient("AK{_rand(_UPPER, 17)}3", secret, paper=False)'),
        ("config/alpaca.yaml", f"APCA_API_SECRET_KEY: {_b40()}"),
        ("app/broker.py", f'alpaca_secret = "{_b40()}"'),
        ("config/vault.json", f'  "vault_token": "hvs.{_rand(_ALNUM, 90)}",'),
        ("scripts/login.sh", f"export VAULT_TOKEN=hvb.{_rand(_ALNUM + '_-', 120)}"),
        ("config/recovery.toml", f'recovery = "hvr.{_rand(_ALNUM, 40)}"'),
        ("app/legacy.py", f'VAULT = "s.Ab3{_rand(_ALNUM, 21)}"'),
        ("ops/aws/credentials", f"aws_access_key_id = AKIA{_rand(_UPPER, 16)}"),
        ("ops/aws/credentials", f"aws_secret_access_key = {_b40()}"),
        ("ops/cfn.yaml", f"      AccessKeyId: ASIA{_rand(_UPPER, 16)}"),
        ("deploy/.env.production", f"AWS_SECRET_ACCESS_KEY={_b40()}"),
        ("app/db.py", 'DATABASE_URL = "postgresql://nova:p@ss!w0rd#x@db.internal:5432/nova"'),
        ("config/db.yaml", "url: postgres://trader:S3cr%40t-9x@ts.internal/market"),
        ("config/app.toml", 'dsn = "postgresql+psycopg://app:Zx9$Qw!e@timescale:5432/db"'),
        ("ops/keys/id_rsa", "-----BEGIN RSA PRIVATE KEY-----\n" + pem_body),
        ("ops/sa.json", '  "private_key": "-----BEGIN PRIVATE KEY-----\\n' + pem_body + '\\n",'),
        ("deploy/.env", "TIMESCALE_PASSWORD=Tr4d3r!-night"),
        ("docker-compose.yml", '      DB_PASSWORD: "q9Lm#2vX!pz"'),
        ("app/settings_local.py", 'ALPACA_SECRET_KEY = "k2L9mQ-wz81xP"'),
        ("scripts/redis.sh", "export REDIS_PASSWORD='Ghp-29xLq!'"),
        ("web/config.json", '  "api_key": "sk_live_51HqL2mK9zXw",'),
        ("config/github.toml", f'github_token = "ghp_{_rand(_ALNUM, 36)}"'),
        ("app/mail.py", 'smtp.login(user, password="m4il-Pa55word")'),
        ("config/mail.yml", "smtp_password: Wq7-mail-9zz"),
        ("secrets", "STRIPE_SECRET=rk_live_9f8e7d6c5b4a"),
        ("deploy/.env.production", "SENTRY_API_KEY=5f0c9a2e7b1d4c3f"),
    ]


_DECOYS = [
    ("deploy/.env.example", "TIMESCALE_PASSWORD=your-timescale-password-here"),
    ("deploy/.env.example", "ALPACA_API_KEY=PK1234567890ABCDEFGH"),
    ("config/db.yaml", "password: ${DB_PASSWORD}"),
    ("config/db.yaml", 'admin_password: "{{ vault_admin_password }}"'),
    ("app/db.py", 'password = os.environ["DB_PASSWORD"]'),
    ("app/db.py", 'token = os.getenv("VAULT_TOKEN")'),
    ("app/db.py", 'conn = f"postgresql://{user}:{password}@{host}/db"'),
    ("docs/aws.md", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    ("docs/aws.md", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("deploy/.env.staging", "API_KEY=changeme"),
    ("deploy/.env.staging", "REDIS_PASSWORD="),
    ("deploy/.env.staging", "AUTH_TOKEN=xxxxxxxxxxxxxxxx"),
    ("deploy/.env.staging", "WEBHOOK_SECRET=***"),
    ("deploy/.env.staging", "SENTRY_API_KEY=<sentry-key>"),
    ("deploy/.env.staging", "VAULT_TOKEN=$VAULT_TOKEN"),
    ("docker-compose.yml", "      POSTGRES_URL: postgres://postgres:postgres@localhost:5432/test"),
    ("docker-compose.yml", "      DATABASE_URL: postgresql://app:${DB_PASSWORD}@db/app"),
    ("app/pem.py", 'if text.startswith("-----BEGIN RSA PRIVATE KEY-----"):'),
    ("app/models.py", "    password: SecretStr = Field(description='the password')"),
    ("app/models.py", "    max_tokens: int = 4096"),
    ("app/models.py", '    token_type = "bearer"'),
    ("docs/setup.md", "Set `DISCORD_WEBHOOK_URL=https://discord.com/api/webhooks/<id>/<token>`."),
    ("config/ids.yaml", f"request_id: {uuid.UUID(int=_RNG.getrandbits(128))}"),
    ("config/ids.yaml", f"commit: {_rand('0123456789abcdef', 40)}"),
]


def _filler(kind: int, index: int) -> tuple[str, str]:
    """One ordinary file: module, config, lock file or doc, with nothing secret in it."""
    if kind == 0:
        body = "\n".join(
            f"def handler_{index}_{n}(event: dict[str, str]) -> str:\n"
            f"    value = event.get('key_{n}', 'default')\n    return value.upper()\n"
            for n in range(25)
        )
        return f"src/pkg{index % 40}/module_{index}.py", f'"""Module {index}."""\n\n{body}'
    if kind == 1:
        lines = [f"service_{n}:\n  host: svc{n}.internal\n  port: {8000 + n}" for n in range(40)]
        return f"config/svc{index % 30}/service_{index}.yaml", "\n".join(lines) + "\n"
    if kind == 2:
        entries = [
            f'[[package]]\nname = "pkg-{index}-{n}"\nversion = "1.{n}.0"\nfiles = [\n'
            f'    {{file = "pkg-{n}.whl", hash = "sha256:{_rand("0123456789abcdef", 64)}"}},\n]'
            for n in range(20)
        ]
        return f"locks/proj{index}/poetry.lock", "\n\n".join(entries) + "\n"
    if kind == 3:
        deps = [
            f'    "node_modules/js-tokens-{n}": {{"version": "4.0.{n}", "integrity": '
            f'"sha512-{_rand(_ALNUM + "+/", 86)}=="}},'
            for n in range(20)
        ]
        return f"web/app{index}/package-lock.json", "{\n" + "\n".join(deps) + "\n}\n"
    if kind == 4:
        return f"env/service{index}/.env", (
            f"LOG_LEVEL=info\nHOST=0.0.0.0\nPORT={9000 + index}\nNOVA_ENV=development\n"
            f"REQUEST_ID={uuid.UUID(int=_RNG.getrandbits(128))}\n"
        )
    return f"docs/page_{index}.md", f"# Page {index}\n\n" + "Some prose about tokens.\n" * 40


def build_tree(root: Path, files: int) -> set[tuple[str, int]]:
    """Write the tree; return the (path, line) of every planted secret."""
    contents: dict[str, list[str]] = {}
    for index in range(files - 40):
        path, text = _filler(index % 6, index)
        contents.setdefault(path, []).extend(text.splitlines())
    planted: set[tuple[str, int]] = set()
    secrets = _planted()
    for path, line in [*secrets, *_DECOYS]:
        contents.setdefault(path, []).extend(["# filler", *line.splitlines()])
    for path, line in secrets:
        lines = contents[path]
        planted.add((path, lines.index(line.splitlines()[0]) + 1))
    for path, lines in contents.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return planted


def _time(command: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    best, out = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - start)
        out = done.stdout
    return best, out


def _score(found: set[tuple[str, int]], planted: set[tuple[str, int]]) -> tuple[int, int]:
    return len(found & planted), len(found - planted)


def main() -> int:
    """Build the tree, run both scanners, print the figures; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        planted = build_tree(root, options.files)
        count = sum(1 for _ in root.rglob("*") if _.is_file())
        nova_time, nova_out = _time(
            [sys.executable, "-m", "nova_config.scan_cli", "scan", "--json", "."],
            root,
            options.repeat,
        )
        nova = {(f["path"], f["line"]) for f in json.loads(nova_out)}
        ds_bin = shutil.which("detect-secrets") or str(
            Path(sys.executable).parent / "detect-secrets"
        )
        ds_time, ds_out = _time([ds_bin, "scan", "--all-files", "."], root, options.repeat)
        results = json.loads(ds_out)["results"]
        ds = {(name, r["line_number"]) for name, found in results.items() for r in found}
        rows = [("nova-config scan", nova_time, *_score(nova, planted))]
        rows.append(("detect-secrets 1.5.0", ds_time, *_score(ds, planted)))
        print(f"{count} files, {len(planted)} planted secrets, {len(_DECOYS)} decoys")
        print(f"{'tool':<22}{'time (s)':>10}{'recall':>10}{'false +':>10}")
        for name, seconds, recall, false in rows:
            print(f"{name:<22}{seconds:>10.2f}{f'{recall}/{len(planted)}':>10}{false:>10}")
        ratio = nova_time / ds_time
        print(f"time ratio nova/detect-secrets: {ratio:.3f}x (target <= {TARGETS['ratio']}x)")
        for path, line in sorted(planted - nova):
            print(f"missed: {path}:{line}")
        for path, line in sorted(nova - planted):
            print(f"false positive: {path}:{line}")
        _, _, recall, false = rows[0]
        ok = recall >= TARGETS["recall"] and false <= TARGETS["false_positives"]
        return 0 if ok and ratio <= TARGETS["ratio"] else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
