"""The audit trail of every load: which secret came from where, what failed, and alerts.

Imported only when a load has something to do with it (`NOVA_AUDIT_LOG`, `NOVA_ALERT_WEBHOOK`,
or the `nova_config.audit` logger enabled for INFO), so an app without audit pays nothing.

The file (`NOVA_AUDIT_LOG`) is JSON lines chained by `prev` (see `auditchain.py`). The lines of
one load are appended by one `write()` on an `O_APPEND` descriptor, under an exclusive `flock`
held while the last line is read, so several processes can share the file and the chain holds.
The same events, without `prev`, go to the `nova_config.audit` logger at INFO.
"""

from __future__ import annotations

import hmac
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nova_config.auditchain import append, encode
from nova_config.errors import AuditLogError, SettingsError, SourceConfigError
from nova_config.policy import FALLBACK_ENVIRONMENTS

if TYPE_CHECKING:
    from nova_config.resolve import Load

logger = logging.getLogger("nova_config")
audit_logger = logging.getLogger("nova_config.audit")

LOG_VARIABLE = "NOVA_AUDIT_LOG"
ON_ERROR_VARIABLE = "NOVA_AUDIT_ON_ERROR"
HMAC_VARIABLE = "NOVA_AUDIT_HMAC_KEY"
STRICT = "staging and production"


_HOST = socket.gethostname()


def _now() -> str:
    now = time.time()
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}.{int(now * 1000) % 1000:03d}Z"


def _text_of(value: Any) -> str | None:
    """A secret's text for its HMAC: SecretStr and Secret[...] unwrapped; None when unset."""
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    inner = reveal() if callable(reveal) else value
    if isinstance(inner, bytes):
        return inner.decode("utf-8", "surrogateescape")
    return None if inner is None else str(inner)


def _outcome(load: Load, name: str, variable: str, kinds: Mapping[str, str]) -> str:
    kind = kinds.get(variable)
    if kind == "missing":
        return "missing"
    if kind is not None:
        return "invalid"
    provenance = load.provenance.get(name)
    if provenance is None:
        return "missing"
    return "default" if provenance.source == "default" else "resolved"


def _secret_reads(load: Load, error: SettingsError | None, model: Any) -> list[dict[str, Any]]:
    kinds = {p.variable: p.kind for p in error.problems if p.variable} if error else {}
    key = load.environ.get(HMAC_VARIABLE)
    reads: list[dict[str, Any]] = []
    for plan in load.plans:
        if not plan.secret:
            continue
        found = load.provenance.get(plan.name)
        read = {
            "event": "secret_read",
            "field": plan.name,
            "variable": plan.variable,
            "source": found.source if found else None,
            "location": found.location if found else None,
            "version": found.version if found else None,
            "outcome": _outcome(load, plan.name, plan.variable, kinds),
        }
        text = _text_of(getattr(model, plan.name, None)) if key and model is not None else None
        if key and text is not None and read["outcome"] == "resolved":
            digest = hmac.new(key.encode(), text.encode("utf-8", "surrogateescape"), "sha256")
            read["hmac"] = "hmac-sha256:" + digest.hexdigest()
        reads.append(read)
    return reads


# Loads that found the same things in the same places write the same secret_read events: their
# text is kept per settings class and what each secret field's provenance and problems were (not
# with an HMAC key, whose hashes are of values). Bounded: cleared when it reaches the limit.
_READS: dict[tuple[object, ...], tuple[str, ...]] = {}
MAX_SHAPES = 64


def _encoded_reads(load: Load, error: SettingsError | None, model: Any) -> tuple[str, ...]:
    """The secret_read events' own keys, encoded, each without its opening brace."""
    keyed = bool(load.environ.get(HMAC_VARIABLE))
    shape: tuple[object, ...] = ()
    if not keyed:
        kinds = tuple((p.variable, p.kind) for p in error.problems) if error else ()
        found = tuple(load.provenance.get(plan.name) for plan in load.plans if plan.secret)
        shape = (load.settings_name, load.plans, found, kinds)
        cached = _READS.get(shape)
        if cached is not None:
            return cached
    reads = tuple(encode(read)[1:] for read in _secret_reads(load, error, model))
    if not keyed:
        if len(_READS) >= MAX_SHAPES:
            _READS.clear()
        _READS[shape] = reads
    return reads


def common_keys(settings: str, environment: str) -> dict[str, Any]:
    """The keys every event carries (`prev` aside): when, what, where, and a new event id."""
    return {
        "time": _now(),
        "settings": settings,
        "environment": environment,
        "host": _HOST,
        "pid": os.getpid(),
        # An id, not a secret: the process's own generator (reseeded in a forked child), with
        # no system call.
        "load_id": f"{random.getrandbits(64):016x}",
    }


def texts_of(load: Load, error: SettingsError | None, model: Any) -> list[str]:
    """The events of one load, encoded, in order: each secret field's `secret_read`, each
    failed store's `source_failed`, then `settings_loaded` or `settings_failed`."""
    common = common_keys(load.settings_name, load.environment)
    own: list[dict[str, Any]] = [
        {
            "event": "source_failed",
            "source": name,
            "cause": cause,
            "reason": load.failed.get(name, ""),
            "outcome": outcome,
        }
        for name, (cause, outcome) in load.failures.items()
    ]
    own.append(
        {
            "event": "settings_failed" if error is not None else "settings_loaded",
            "sources": list(load.sources()),
            "problems": len(error.problems) if error is not None else 0,
            "duration_ms": round((time.perf_counter() - load.started) * 1000, 3),
        }
    )
    # The shared keys encoded once; each event's own follow them in the same object.
    head = encode(common)[:-1]
    rest = [encode(keys)[1:] for keys in own]
    return [f"{head},{text}" for text in (*_encoded_reads(load, error, model), *rest)]


def _fails_closed(load: Load) -> bool:
    """Whether an unwritable audit log fails the load: NOVA_AUDIT_ON_ERROR, else by environment.

    Raises:
        SourceConfigError: NOVA_AUDIT_ON_ERROR is neither `fail` nor `continue`.
    """
    raw = load.environ.get(ON_ERROR_VARIABLE)
    if raw is None:
        return load.environment not in FALLBACK_ENVIRONMENTS
    mode = raw.strip().lower()
    if mode not in ("fail", "continue"):
        raise SourceConfigError(f"{ON_ERROR_VARIABLE} must be fail or continue")
    return mode == "fail"


def _write_failure(load: Load, path: str, exc: OSError) -> AuditLogError | None:
    """What an audit log that cannot be written does: an error to raise, or a warning."""
    cause = exc.strerror or type(exc).__name__
    message = f"the audit log {path} ({LOG_VARIABLE}) cannot be written: {cause}"
    if _fails_closed(load):
        return AuditLogError(
            f"{message}; {load.settings_name.rpartition(':')[2]} is not loaded without its "
            f"audit trail ({ON_ERROR_VARIABLE}=continue, or the default outside {STRICT}, "
            "goes on without it)"
        )
    logger.warning("%s; going on without it", message)
    return None


def _emit(texts: list[str]) -> None:
    """The events to the `nova_config.audit` logger, one record each, when it is on."""
    if audit_logger.isEnabledFor(logging.INFO):
        for text in texts:
            # A record made directly: Logger.info would also walk the stack for the caller.
            record = audit_logger.makeRecord(
                audit_logger.name, logging.INFO, __file__, 0, text, (), None, "finish"
            )
            audit_logger.handle(record)


def record_event(
    settings: str, environment: str, environ: Mapping[str, str], own: dict[str, Any]
) -> None:
    """Audit one event outside a load (`secret_rotated`, `settings_reloaded`, ...).

    It goes to the file and the logger as a load's events do. What it records has already
    happened, so a file that cannot be written is logged as an error, not raised.

    Args:
        settings: the settings class, as `module:Class`.
        environment: the environment.
        environ: the variables (`NOVA_AUDIT_LOG`).
        own: the event's own keys, `event` first; never a value.
    """
    head = encode(common_keys(settings, environment))[:-1]
    texts = [f"{head},{encode(own)[1:]}"]
    _emit(texts)
    path = environ.get(LOG_VARIABLE)
    if path:
        try:
            append(path, texts)
        except OSError as exc:
            cause = exc.strerror or type(exc).__name__
            logger.error("the audit log %s (%s) cannot be written: %s", path, LOG_VARIABLE, cause)


def finish(load: Load, error: SettingsError | None, model: Any) -> AuditLogError | None:
    """Audit a finished load: the file, the logger, then the alerts.

    Returns:
        An error to raise when the audit log cannot be written and the policy is to fail
        closed (for a load that already failed, the load's own error is raised instead, and
        this one is logged).
    """
    texts = texts_of(load, error, model)
    _emit(texts)
    failure: AuditLogError | None = None
    path = load.environ.get(LOG_VARIABLE)
    if path:
        try:
            append(path, texts)
        except OSError as exc:
            failure = _write_failure(load, path, exc)
    if load.environ.get("NOVA_ALERT_WEBHOOK"):
        _alert(load, model)
    if failure is not None and error is not None:
        logger.error("%s", failure)
        return None
    return failure


def _alert(load: Load, model: Any) -> None:
    """The load's alerts: stores denied, stores failed in staging or production, .env there."""
    from nova_config.alerts import Alert, send_alerts  # noqa: PLC0415 - only with alerts on

    strict = load.environment not in FALLBACK_ENVIRONMENTS
    alerts = [
        Alert("denied" if cause == "denied" else "store_failed", name, load.failed.get(name, ""))
        for name, (cause, _) in load.failures.items()
        if cause == "denied" or strict
    ]
    dotenv = sorted({p.location for p in load.provenance.values() if p.source == "dotenv"})
    if load.environment == "production" and dotenv:
        alerts.append(Alert("dotenv_in_production", "dotenv", f"read {', '.join(dotenv)}"))
    if not alerts:
        return
    webhook = getattr(model, "discord_webhook_url", None) if model is not None else None
    if webhook is None:
        webhook = load.values.get("discord_webhook_url")
    send_alerts(
        alerts,
        settings=load.settings_name,
        environment=load.environment,
        environ=load.environ,
        app_webhook=_text_of(webhook),
    )


__all__ = ["append", "common_keys", "finish", "record_event", "texts_of"]
