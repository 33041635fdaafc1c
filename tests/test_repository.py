"""The repository's own safety net: what .gitignore keeps out of commits."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(),
    reason="needs a git checkout of the project",
)


def ignored(path: str) -> bool:
    """Whether git would ignore a path of the repository."""
    result = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", "-q", path],  # noqa: S607 - git from PATH, as a developer runs it
        check=False,
    )
    return result.returncode == 0


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        ".env.staging",
        "app/.env",
        "secrets/db_password",
        ".venv/bin/python",
        "dist/nova_config-0.1.0.whl",
        "build/lib/x.py",
    ],
)
def test_secrets_and_build_output_are_ignored(path: str) -> None:
    """.env files, secret folders, the venv and build output never get committed."""
    assert ignored(path)


@pytest.mark.parametrize("path", [".env.example", "nova_config/settings.py", "README.md"])
def test_example_and_sources_are_not_ignored(path: str) -> None:
    """.env.example (placeholders only) and the code stay committable."""
    assert not ignored(path)
