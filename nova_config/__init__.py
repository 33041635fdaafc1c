"""nova-config: one typed, validated settings object for an application's secrets."""

from nova_config.errors import (
    EnvironmentNameError,
    Problem,
    SecretFieldError,
    SettingsError,
    SourceError,
    SourceOrderError,
)
from nova_config.fields import Spec, secret, setting
from nova_config.provenance import Provenance, ResolutionRecord
from nova_config.settings import NovaSettings, SecretSettings
from nova_config.sources.base import ENVIRONMENTS

__all__ = [
    "ENVIRONMENTS",
    "EnvironmentNameError",
    "NovaSettings",
    "Problem",
    "Provenance",
    "ResolutionRecord",
    "SecretFieldError",
    "SecretSettings",
    "SettingsError",
    "SourceError",
    "SourceOrderError",
    "Spec",
    "secret",
    "setting",
]
