"""The suite's fixtures live in tests/support/; they are registered here as pytest plugins."""

import pytest

# The support modules' asserts report as a test's do: pytest rewrites them too. Registered before
# any of them is imported.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.openbao_fixtures",
    "tests.support.moto_fixtures",
    "tests.support.postgres_fixtures",
    "tests.support.discord_fixtures",
    "tests.support.rotation_fixtures",
    "tests.support.raft_fixtures",
]
