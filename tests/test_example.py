"""`.env.example`: generated from the model, parsable, and in step with the committed file."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values

from nova_config import NovaSettings, SettingsError
from nova_config.example import render_example

REPO = Path(__file__).resolve().parent.parent
REFERENCE = "nova_config.settings:NovaSettings"


def test_committed_example_matches_the_model() -> None:
    """The committed .env.example is exactly what `nova-config example` prints (make example)."""
    committed = (REPO / ".env.example").read_text(encoding="utf-8")
    assert committed == render_example(NovaSettings, REFERENCE), (
        "`.env.example` drifted from NovaSettings: run `make example` and commit the result"
    )


def test_example_lists_every_setting_and_parses(tmp_path: Path) -> None:
    """Every variable is present, and the file parses back to the model's examples."""
    path = tmp_path / "example.env"
    path.write_text(render_example(NovaSettings, REFERENCE), encoding="utf-8")
    parsed = dotenv_values(path, interpolate=False)
    assert list(parsed) == [plan.variable for plan in NovaSettings.__nova_plans__]
    assert parsed["TIMESCALE_PORT"] == "5432"
    assert parsed["TIMESCALE_PASSWORD"] == "your-timescale-password-here"
    assert "NOVA_ENV" not in parsed


def test_example_as_dotenv_loads_in_development_only(tmp_path: Path) -> None:
    """Copied to .env, the example is not a working configuration anywhere but for its syntax."""
    (tmp_path / ".env").write_text(render_example(NovaSettings, REFERENCE), encoding="utf-8")
    with pytest.raises(SettingsError) as excinfo:
        NovaSettings()
    # The placeholder webhook is no Discord URL; the other placeholders pass in development.
    assert [p.variable for p in excinfo.value.problems] == ["DISCORD_WEBHOOK_URL"]
    with pytest.raises(SettingsError) as staging:
        NovaSettings(environment="staging")
    assert "is a placeholder" in str(staging.value)
