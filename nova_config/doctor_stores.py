"""Doctor's store items: rotation (4), access logs (5), separate secrets per environment (6)."""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections import defaultdict

from nova_config.audit import LOG_VARIABLE
from nova_config.cli_options import environment_set
from nova_config.doctor import FAIL, PASS, WARN, Context, Outcome, listed, strict_status, worst
from nova_config.errors import SettingsError, StoreAccessError
from nova_config.hidden import HiddenEnviron
from nova_config.rotation_status import DEFAULT_MAX_AGE, rotation_status
from nova_config.rotation_status_cli import age_text
from nova_config.sources import GATES, source_class
from nova_config.sources.base import ENVIRONMENTS, LoadContext
from nova_config.sources.vault_errors import DENIED, judge

VERSIONED = ("vault", "aws")  # the stores that keep versions (and so their creation times)
SYS_AUDIT = "v1/sys/audit"
_PAIR = 2  # a comparison needs two environments


def check_rotation(context: Context) -> Outcome:
    """Item 4: every secret served by a versioned store is younger than rotation's max age."""
    with environment_set(context.environment):
        try:
            settings = context.cls()
        except SettingsError as exc:  # its problems are counted, never quoted with a value
            return Outcome(
                WARN,
                f"ages unknown: the settings do not load in {context.environment} "
                f"({len(exc.problems)} problem(s))",
                f"NOVA_ENV={context.environment} nova-config check --settings {context.reference}",
            )
    ages = rotation_status(settings, now=context.now)
    served = [a for a in ages if a.source in VERSIONED]
    limit = age_text(DEFAULT_MAX_AGE)
    fix = "nova-config rotate the overdue secrets (nova-config rotation-status lists them)"
    if not served:
        return Outcome(
            WARN,
            "ages are unknown: no secret comes from a versioned store (Vault, AWS)",
            "keep the secrets in Vault KV v2 or AWS Secrets Manager, which date each version",
        )
    overdue = [f"{a.variable} ({age_text(a.age)})" for a in served if a.status == "overdue"]
    unknown = [a.variable for a in served if a.status == "unknown"]
    if overdue:
        return Outcome(FAIL, f"older than {limit}: {listed(overdue)}", fix)
    if unknown:
        return Outcome(WARN, f"ages unknown for {listed(unknown)}", "nova-config rotation-status")
    return Outcome(PASS, f"{len(served)} secret(s) from a store, all younger than {limit}")


def _log_state(context: Context) -> tuple[str, str]:
    """NOVA_AUDIT_LOG's status and what it is."""
    path = context.environ.get(LOG_VARIABLE)
    if not path:
        return strict_status(context), f"{LOG_VARIABLE} is not set: loads leave no audit trail"
    if os.path.exists(path):
        usable = os.path.isfile(path) and os.access(path, os.W_OK)
    else:
        folder = os.path.dirname(os.path.abspath(path))
        usable = os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)
    if not usable:
        return strict_status(context), f"{LOG_VARIABLE} names {path}, which cannot be written"
    return PASS, f"{LOG_VARIABLE} is on ({path}, writable)"


def _vault_devices(context: Context) -> tuple[str, str] | None:
    """Whether the Vault server has an audit device; None when Vault is not configured."""
    if GATES["vault"] not in context.environ:
        return None
    from nova_config.sources.vault import VaultSource  # noqa: PLC0415 - only with Vault
    from nova_config.sources.vault_config import find_credentials  # noqa: PLC0415 - same

    try:
        import hvac  # noqa: PLC0415 - the SDK only when Vault is configured
    except ImportError:
        return PASS, "vault: hvac is not installed; its audit devices not checked"
    environ = HiddenEnviron(dict(context.environ))
    source = VaultSource(LoadContext(context.environment, environ, ()))
    credentials = find_credentials(environ)
    deadline = time.monotonic() + source.config.deadline
    login = source.client.login(hvac, source.config.login_key(credentials), credentials, deadline)
    reply = source.client.request(login.client, "GET", SYS_AUDIT, deadline)
    verdict = judge(reply)
    where = f"vault at {source.config.shown}"
    if verdict is DENIED:
        return PASS, f"{where}: the token may not read sys/audit, so its devices were not checked"
    if verdict is not None:
        return (
            WARN,
            f"{where}: sys/audit could not be read ({verdict.meaning}, HTTP {reply.status})",
        )
    devices = reply.body.get("data") or {
        k: v for k, v in reply.body.items() if isinstance(v, dict) and "type" in v
    }
    if not devices:
        return strict_status(context), f"{where} has no audit device enabled"
    return PASS, f"{where} has {len(devices)} audit device(s) enabled"


def check_access_logs(context: Context) -> Outcome:
    """Item 5: the audit log is on in staging and production; Vault has an audit device."""
    statuses, details = [], []
    status, detail = _log_state(context)
    statuses.append(status)
    details.append(detail)
    try:
        vault = _vault_devices(context)
    except SettingsError as exc:  # unreachable, sealed, refused: the message holds no value
        vault = WARN, f"vault's audit devices could not be checked: {str(exc).splitlines()[0]}"
    if vault is not None:
        statuses.append(vault[0])
        details.append(vault[1])
    overall = worst(statuses)
    fixes = []
    if statuses[0] != PASS:
        fixes.append(f"set {LOG_VARIABLE} to a writable file (see docs/audit.md)")
    if len(statuses) > 1 and statuses[1] != PASS:
        fixes.append("enable a Vault audit device: bao audit enable file file_path=...")
    return Outcome(overall, "; ".join(details), "; ".join(fixes) or None)


class _Fingerprints:
    """Keyed fingerprints of values (HMAC-SHA256 under a key of this run), never the values."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        # field -> environment -> fingerprint; compared in memory, never printed.
        self.by_field: dict[str, dict[str, bytes]] = defaultdict(dict)

    def add(self, field: str, environment: str, value: str) -> None:
        text = value.encode("utf-8", "surrogateescape")
        self.by_field[field][environment] = hmac.digest(self._key, text, "sha256")

    def shared(self) -> list[str]:
        """`field (env, env)` for each group of environments that share a value."""
        found = []
        for field, prints in self.by_field.items():
            groups: dict[bytes, list[str]] = defaultdict(list)
            for environment, digest in prints.items():
                groups[digest].append(environment)
            found += [f"{field} ({', '.join(g)})" for g in groups.values() if len(g) > 1]
        return found


def _read_stores(context: Context, prints: _Fingerprints) -> tuple[list[str], list[str]]:
    """Read each configured store for every environment; the environments it denied, and the
    places that could not be read."""
    denied: list[str] = []
    unread: list[str] = []
    plans = tuple(plan for plan in context.cls.__nova_plans__ if plan.secret)
    environ = HiddenEnviron(dict(context.environ))
    for environment in ENVIRONMENTS:
        for store in VERSIONED:
            if GATES[store] not in environ:
                continue
            load_context = LoadContext(environment, environ, plans)
            kind = source_class(store)
            if kind.skip_reason(load_context) is not None:
                continue
            try:
                result = kind(load_context).load()
            except StoreAccessError:
                denied.append(f"{environment} ({store})")
                continue
            except SettingsError:
                unread.append(f"{environment} ({store})")
                continue
            for field, found in result.found.items():
                prints.add(field, environment, found.value)
    return denied, unread


def check_separation(context: Context) -> Outcome:
    """Item 6: no secret has the same value in two environments of a store."""
    if not any(GATES[store] in context.environ for store in VERSIONED):
        return Outcome(
            WARN,
            "no store is configured (VAULT_ADDR, NOVA_AWS_SECRET_ID): cannot verify",
            "keep each environment's secrets at its own path in Vault or AWS",
        )
    prints = _Fingerprints()
    denied, unread = _read_stores(context, prints)
    shared = prints.shared()
    compared = sorted({env for by_env in prints.by_field.values() for env in by_env})
    if shared:
        return Outcome(
            FAIL,
            f"the same value in several environments: {listed(shared)}",
            "give each environment its own value (nova-config rotate --env ...), and keep "
            "no secret at a path every environment reads",
        )
    notes = [f"compared {len(prints.by_field)} secret(s) across {', '.join(compared) or '-'}"]
    if denied:
        notes.append(f"cannot verify {', '.join(denied)}: no read access")
    if unread:
        notes.append(f"could not read {', '.join(unread)}")
    status = WARN if denied or unread or len(compared) < _PAIR else PASS
    fix = "run doctor with credentials that may read every environment" if denied else None
    return Outcome(status, "; ".join(notes), fix)


__all__ = ["check_access_logs", "check_rotation", "check_separation"]
