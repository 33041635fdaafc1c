"""Secret files: Docker and Kubernetes folders, aliases, `<NAME>_FILE`, and every bad file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nova_config import NovaSettings, SettingsError
from tests.support.data import VALID, WEBHOOK
from tests.support.helpers import write


def fill(folder: Path, **names: str) -> None:
    """Write one file per keyword: name -> content (the content ends with a newline)."""
    for name, value in names.items():
        write(folder / name, value + "\n")


def problems_of(excinfo: pytest.ExceptionInfo[SettingsError]) -> list[str]:
    """The messages of a SettingsError's problems."""
    return [p.message for p in excinfo.value.problems]


def test_docker_folder_with_kebab_and_alias_names(secrets_dir: Path) -> None:
    """File names match case-insensitively, '-' equals '_', db_password means TIMESCALE_PASSWORD."""
    fill(
        secrets_dir,
        **{
            "DISCORD_WEBHOOK_URL": WEBHOOK,
            "db-password": "from-docker-file",
            "alpaca-api-key": "AKFROMFILE123",
        },
    )
    settings = NovaSettings()
    assert settings.timescale_password.get_secret_value() == "from-docker-file"
    assert settings.alpaca_api_key.get_secret_value() == "AKFROMFILE123"
    origin = settings.source_of("timescale_password")
    assert (origin.source, origin.location) == ("files", str(secrets_dir / "db-password"))


def test_one_trailing_newline_is_stripped_lf_and_crlf(secrets_dir: Path) -> None:
    """`\\n` and `\\r\\n` endings are removed once; a second newline is whitespace, reported."""
    write(secrets_dir / "discord_webhook_url", WEBHOOK + "\r\n")
    write(secrets_dir / "db_password", "pw-with-lf\n")
    write(secrets_dir / "alpaca_api_key", "AKTWO\n\n")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert len(excinfo.value.problems) == 1
    assert excinfo.value.problems[0].variable == "ALPACA_API_KEY"
    assert "surrounding whitespace" in excinfo.value.problems[0].message
    write(secrets_dir / "alpaca_api_key", "AKTWO\n")
    settings = NovaSettings()
    assert settings.timescale_password.get_secret_value() == "pw-with-lf"
    assert settings.discord_webhook_url.get_secret_value() == WEBHOOK


def test_kubernetes_secret_volume_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `..data` symlink layout of a Kubernetes volume loads; hidden entries are skipped."""
    volume = tmp_path / "k8s"
    version = volume / "..2026_11_28_12_00_00.000000001"
    fill(
        version,
        **{"discord-webhook-url": WEBHOOK, "db-password": "k8s-pw", "alpaca-api-key": "AKK8S"},
    )
    (volume / "..data").symlink_to(version.name)
    for name in ("discord-webhook-url", "db-password", "alpaca-api-key"):
        (volume / name).symlink_to(f"..data/{name}")
    monkeypatch.setenv("NOVA_SECRETS_DIR", str(volume))
    settings = NovaSettings()
    assert settings.timescale_password.get_secret_value() == "k8s-pw"
    assert settings.source_of("alpaca_api_key").location == str(volume / "alpaca-api-key")


def test_first_folder_listed_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With several folders, the first that holds a secret supplies it."""
    first, second = tmp_path / "first", tmp_path / "second"
    fill(first, alpaca_api_key="AKFIRST")
    fill(second, alpaca_api_key="AKSECOND", db_password="pw2", discord_webhook_url=WEBHOOK)
    monkeypatch.setenv("NOVA_SECRETS_DIR", os.pathsep.join([str(first), str(second)]))
    settings = NovaSettings()
    assert settings.alpaca_api_key.get_secret_value() == "AKFIRST"
    assert settings.timescale_password.get_secret_value() == "pw2"
    assert settings.source_of("timescale_password").location == str(second / "db_password")


def test_missing_folder_and_unrelated_entries_are_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets_dir: Path, valid_env: dict[str, str]
) -> None:
    """A missing folder, and a dangling link, folder or binary file matching nothing: ignored."""
    (secrets_dir / "unrelated-link").symlink_to(tmp_path / "nowhere")
    (secrets_dir / "some-folder").mkdir()
    (secrets_dir / "blob.bin").write_bytes(b"\xff\xfe\x00")
    monkeypatch.setenv(
        "NOVA_SECRETS_DIR", os.pathsep.join([str(tmp_path / "absent"), str(secrets_dir)])
    )
    assert NovaSettings().source_of("alpaca_api_key").source == "env"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "is a folder, not a file"),
        (lambda p: p.write_bytes(b"\xffAK\xfe"), "is not UTF-8 text"),
        (lambda p: p.write_bytes(b"A" * (64 * 1024 + 1)), "is larger than 64 KiB"),
        (lambda p: p.symlink_to(p.parent / "gone"), "does not exist (or is a dangling link)"),
        (os.mkfifo, "is not a regular file"),
    ],
    ids=["directory", "not-utf8", "oversized", "dangling-link", "fifo"],
)
def test_matching_entry_that_cannot_be_used_is_an_error_naming_the_file(
    secrets_dir: Path, valid_env: dict[str, str], make: object, expected: str
) -> None:
    """A matching file that cannot be read is an error naming the file, even when env has it."""
    target = secrets_dir / "alpaca_api_key"
    make(target)  # type: ignore[operator]
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert problems_of(excinfo) == [f"{target} {expected}"]


def test_file_of_exactly_64_kib_is_accepted(secrets_dir: Path, valid_env: dict[str, str]) -> None:
    """The size limit is inclusive: 64 KiB is fine."""
    (secrets_dir / "alpaca_secret_key").write_bytes(b"s" * (64 * 1024))
    assert NovaSettings().alpaca_secret_key is not None


def test_unreadable_file_is_an_error(secrets_dir: Path, valid_env: dict[str, str]) -> None:
    """A file without read permission is reported as such, naming it."""
    target = write(secrets_dir / "alpaca_api_key", "AKUNREADABLE\n")
    target.chmod(0)
    expected = f"{target} cannot be read: permission denied"
    if os.geteuid() != 0:
        with pytest.raises(SettingsError) as excinfo:
            NovaSettings()
        assert problems_of(excinfo) == [expected]
        return
    # Root reads any file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it obeys the mode.
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and setpriv (util-linux) is needed to drop that power")
    code = (
        "from nova_config import NovaSettings, SettingsError\n"
        "try:\n    NovaSettings()\nexcept SettingsError as exc:\n    print(exc)\n"
    )
    drop = "-dac_override,-dac_read_search"
    result = subprocess.run(
        [setpriv, "--bounding-set", drop, "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert expected in result.stdout
    assert "AKUNREADABLE" not in result.stdout


def test_two_entries_for_one_secret_in_one_folder_is_an_error(
    secrets_dir: Path, valid_env: dict[str, str]
) -> None:
    """`db_password` and `timescale_password` side by side are ambiguous, so both are named."""
    fill(secrets_dir, db_password="a-pw", timescale_password="b-pw")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert problems_of(excinfo) == [
        f"{secrets_dir / 'db_password'} and {secrets_dir / 'timescale_password'} both hold "
        "TIMESCALE_PASSWORD; keep one of them"
    ]


def test_name_file_variable_points_at_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TIMESCALE_PASSWORD_FILE=/path reads the password from that file."""
    path = write(tmp_path / "elsewhere" / "db_password", "pw-via-file-var\n")
    monkeypatch.setenv("TIMESCALE_PASSWORD_FILE", str(path))
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv("ALPACA_API_KEY", VALID["ALPACA_API_KEY"])
    settings = NovaSettings()
    assert settings.timescale_password.get_secret_value() == "pw-via-file-var"
    origin = settings.source_of("timescale_password")
    assert origin.source == "files"
    assert origin.location == f"{path} (from TIMESCALE_PASSWORD_FILE)"


def test_file_variable_beats_the_secrets_folder(
    tmp_path: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An explicit _FILE variable wins over a file found by scanning a folder."""
    fill(secrets_dir, db_password="from-folder", alpaca_api_key="AK1", discord_webhook_url=WEBHOOK)
    path = write(tmp_path / "pw", "from-variable\n")
    monkeypatch.setenv("TIMESCALE_PASSWORD_FILE", str(path))
    assert NovaSettings().timescale_password.get_secret_value() == "from-variable"


def test_variable_and_file_variable_both_set_is_an_error(
    tmp_path: Path, valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """X and X_FILE together are refused, as the official Docker images do."""
    monkeypatch.setenv("TIMESCALE_PASSWORD_FILE", str(write(tmp_path / "pw", "x\n")))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert problems_of(excinfo) == [
        "TIMESCALE_PASSWORD and TIMESCALE_PASSWORD_FILE are both set; unset one of them"
    ]


def test_file_variable_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A _FILE variable is explicit, so a missing target is an error, not a silent skip."""
    monkeypatch.setenv("ALPACA_API_KEY_FILE", str(tmp_path / "typo"))
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    assert (
        f"ALPACA_API_KEY_FILE: {tmp_path / 'typo'} does not exist (or is a dangling link)"
        in problems_of(excinfo)
    )


def test_prefixed_file_variable_in_its_environment(
    tmp_path: Path, valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """STAGING_ALPACA_API_KEY_FILE is read in staging."""
    monkeypatch.setenv("NOVA_ENV", "staging")
    monkeypatch.delenv("ALPACA_API_KEY")
    monkeypatch.setenv("STAGING_ALPACA_API_KEY_FILE", str(write(tmp_path / "k", "AKSTAGE\n")))
    assert NovaSettings().alpaca_api_key.get_secret_value() == "AKSTAGE"


def test_secrets_dir_that_is_a_file_is_an_error(
    tmp_path: Path, valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """NOVA_SECRETS_DIR naming a file (not a folder) is a configuration error."""
    monkeypatch.setenv("NOVA_SECRETS_DIR", str(write(tmp_path / "file", "x")))
    with pytest.raises(SettingsError, match="is not a folder"):
        NovaSettings()


def test_environment_variable_beats_secret_file(
    secrets_dir: Path, valid_env: dict[str, str]
) -> None:
    """Source order: environment variables come before secret files."""
    fill(secrets_dir, alpaca_api_key="AKFROMFILE")
    assert NovaSettings().alpaca_api_key.get_secret_value() == valid_env["ALPACA_API_KEY"]
