"""nova-config: one typed, validated settings object for an application's secrets."""

from nova_config.errors import (
    EnvironmentNameError,
    MissingExtraError,
    Problem,
    SecretFieldError,
    SettingsError,
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

__all__ = [
    "ENVIRONMENTS",
    "EnvironmentNameError",
    "FailurePolicy",
    "MissingExtraError",
    "NovaSettings",
    "Problem",
    "Provenance",
    "ResolutionRecord",
    "SecretFieldError",
    "SecretSettings",
    "SettingsError",
    "SourceConfigError",
    "SourceError",
    "SourceOrderError",
    "Spec",
    "StoreAccessError",
    "StoreDataError",
    "StoreUnavailableError",
    "secret",
    "setting",
]
