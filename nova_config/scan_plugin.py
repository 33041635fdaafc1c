"""nova-config's detectors as detect-secrets plugins: `detect-secrets scan --plugin <this file>`.

One plugin class per rule, each answering with the secrets that rule finds in a line, through
the same engine and the same placeholder checks as `nova-config scan`. Only this module imports
detect_secrets (a dev dependency), so the scanner itself never needs it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from detect_secrets.plugins.base import BasePlugin

from nova_config import scan_rules
from nova_config.scan_rules import detect


class _NovaRule(BasePlugin):
    """A nova-config rule: the secrets it finds in one line."""

    rule = ""

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        """Yield each secret of this rule in the line (detect-secrets keeps its own hash)."""
        for match in detect(string, "line.txt"):
            if match.rule == self.rule:
                yield match.secret

    def json(self) -> dict[str, Any]:
        """How detect-secrets records the plugin in a baseline: its class name."""
        return {"name": type(self).__name__}


def _plugin(rule: str) -> type[_NovaRule]:
    name = "Nova" + "".join(part.title() for part in rule.split("-")) + "Detector"
    return type(name, (_NovaRule,), {"rule": rule, "secret_type": f"nova-config {rule}"})


NovaDiscordWebhookDetector = _plugin(scan_rules.DISCORD)
NovaAlpacaKeyIdDetector = _plugin(scan_rules.ALPACA_ID)
NovaAlpacaSecretKeyDetector = _plugin(scan_rules.ALPACA_SECRET)
NovaVaultTokenDetector = _plugin(scan_rules.VAULT)
NovaAwsAccessKeyIdDetector = _plugin(scan_rules.AWS_ID)
NovaAwsSecretAccessKeyDetector = _plugin(scan_rules.AWS_SECRET)
NovaPostgresUrlDetector = _plugin(scan_rules.POSTGRES)
NovaPrivateKeyDetector = _plugin(scan_rules.PEM)
NovaModelSecretDetector = _plugin(scan_rules.MODEL)
NovaSecretAssignmentDetector = _plugin(scan_rules.ASSIGNMENT)

__all__ = [
    "NovaAlpacaKeyIdDetector",
    "NovaAlpacaSecretKeyDetector",
    "NovaAwsAccessKeyIdDetector",
    "NovaAwsSecretAccessKeyDetector",
    "NovaDiscordWebhookDetector",
    "NovaModelSecretDetector",
    "NovaPostgresUrlDetector",
    "NovaPrivateKeyDetector",
    "NovaSecretAssignmentDetector",
    "NovaVaultTokenDetector",
]
