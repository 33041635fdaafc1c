"""nova-config: one typed, validated settings object for an application's secrets."""

from typing import TYPE_CHECKING

from nova_config.errors import (
    AuditLogError,
    EnvironmentNameError,
    MissingExtraError,
    Problem,
    SecretFieldError,
    SettingsError,
    SettingsSourceError,
    SourceConfigError,
    SourceError,
    SourceOrderError,
    StoreAccessError,
    StoreDataError,
    StoreUnavailableError,
)
from nova_config.fields import Spec, secret, setting
from nova_config.policy import FailurePolicy
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.settings import NovaSettings, SecretSettings
from nova_config.sources.base import ENVIRONMENTS

if TYPE_CHECKING:
    from nova_config.live import LiveSettings, watch
    from nova_config.sources.settings_source import (
        AwsSecretsSettingsSource,
        DotenvSettingsSource,
        SecretFilesSettingsSource,
        StoreSettingsSource,
        VaultSettingsSource,
    )

# The stores as pydantic-settings sources, imported on first use: an app that only instantiates
# its settings does not pay for them at boot.
_SETTINGS_SOURCES = frozenset(
    {
        "AwsSecretsSettingsSource",
        "DotenvSettingsSource",
        "SecretFilesSettingsSource",
        "StoreSettingsSource",
        "VaultSettingsSource",
    }
)


def __getattr__(name: str) -> object:
    if name in ("watch", "LiveSettings"):
        # Live reload is for the apps that use it; its module is imported on first use.
        from nova_config import live  # noqa: PLC0415 - on first use only

        return getattr(live, name)
    if name in _SETTINGS_SOURCES:
        from nova_config.sources import settings_source  # noqa: PLC0415 - on first use only

        return getattr(settings_source, name)
    raise AttributeError(f"module 'nova_config' has no attribute {name!r}")


__all__ = [
    "ENVIRONMENTS",
    "AuditLogError",
    "AwsSecretsSettingsSource",
    "DotenvSettingsSource",
    "EnvironmentNameError",
    "FailurePolicy",
    "LiveSettings",
    "MissingExtraError",
    "NovaSettings",
    "Problem",
    "Provenance",
    "ResolutionRecord",
    "SecretFieldError",
    "SecretFilesSettingsSource",
    "SecretSettings",
    "SettingsError",
    "SettingsSourceError",
    "SourceConfigError",
    "SourceError",
    "SourceOrderError",
    "Spec",
    "StoreAccessError",
    "StoreDataError",
    "StoreSettingsSource",
    "StoreUnavailableError",
    "VaultSettingsSource",
    "secret",
    "setting",
    "watch",
]
