"""The data the tests and the benchmarks share, defined once.

Fake values shaped like the real ones: the valid required secrets, the variable prefixes of the
stores, and the canary secrets the Vault tests plant.
"""

from __future__ import annotations

from typing import Any

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQr"
# The three required secrets, valid, by variable name.
VALID = {
    "DISCORD_WEBHOOK_URL": WEBHOOK,
    "TIMESCALE_PASSWORD": "tsdb-pass-0f9e8d",
    "ALPACA_API_KEY": "AKTESTKEY0123456789",
}
# The same by field name: keyword arguments, and the keys of a secret held in a store.
VALID_FIELDS = {name.lower(): value for name, value in VALID.items()}


def valid_kwargs(**overrides: Any) -> dict[str, Any]:
    """The three required secrets as keyword arguments, with overrides."""
    return VALID_FIELDS | overrides


# Variables of nova-config itself and of the stores' SDKs (hvac reads VAULT_*, boto3 AWS_*).
STORE_PREFIXES = ("NOVA_", "VAULT_", "AWS_")

# Values no message, log line or repr may ever contain: the Vault tests' secrets, by field name.
VAULT_CANARY_WEBHOOK = "https://discord.com/api/webhooks/987654321098765432/CanaryWebhookToken-x1"
VAULT_CANARY_PASSWORD = "canary-tsdb-pass-7a91c3"
VAULT_CANARY_KEY = "AKCANARY00VAULT1234"
VAULT_CANARIES = (VAULT_CANARY_WEBHOOK, VAULT_CANARY_PASSWORD, VAULT_CANARY_KEY)
VAULT_SECRETS = {
    "discord_webhook_url": VAULT_CANARY_WEBHOOK,
    "timescale_password": VAULT_CANARY_PASSWORD,
    "alpaca_api_key": VAULT_CANARY_KEY,
}
