"""AWS Secrets Manager's errors, judged in one table, and botocore's log kept free of secrets.

The table maps an error code (or a botocore exception class) to the project's error and a
wording that names the code, never botocore's message, which can quote a request.
"""

from __future__ import annotations

import logging

from nova_config.errors import (
    SettingsError,
    SourceConfigError,
    StoreAccessError,
    StoreDataError,
    StoreUnavailableError,
)

_TIMEOUT = "{timeout:g} s (NOVA_AWS_TIMEOUT)"

Failure = tuple[type[SettingsError], str]
_DENIED = (
    "access denied ({code}): no secretsmanager:GetSecretValue on it, or kms:Decrypt on its key"
)
# Error code, or botocore exception class name -> (error class, wording): the one place the
# SDK's errors are judged. A wording names the code, never botocore's message.
ERRORS: dict[str, Failure] = {
    "AccessDeniedException": (StoreAccessError, _DENIED),
    "UnrecognizedClientException": (StoreAccessError, "access denied ({code}): unknown key id"),
    "InvalidSignatureException": (StoreAccessError, "access denied ({code}): wrong secret key"),
    "ExpiredTokenException": (StoreAccessError, "access denied ({code}): the token has expired"),
    "NoCredentialsError": (StoreAccessError, "no AWS credentials found"),
    "PartialCredentialsError": (StoreAccessError, "no AWS credentials found (only part of a set)"),
    "DecryptionFailure": (StoreDataError, "its KMS key cannot decrypt it ({code})"),
    "ThrottlingException": (StoreUnavailableError, "throttled ({code}), even after a retry"),
    "TooManyRequestsException": (StoreUnavailableError, "throttled ({code}), even after a retry"),
    "InternalServiceError": (StoreUnavailableError, "the service failed ({code})"),
    "ConnectTimeoutError": (StoreUnavailableError, "unreachable: no connection within " + _TIMEOUT),
    "ReadTimeoutError": (StoreUnavailableError, "unreachable: no answer within " + _TIMEOUT),
    "ConnectionClosedError": (StoreUnavailableError, "unreachable: the connection was closed"),
    "SSLError": (StoreUnavailableError, "unreachable: the TLS handshake failed"),
    "ConnectionError": (StoreUnavailableError, "unreachable: no connection could be made"),
    "HTTPClientError": (StoreUnavailableError, "unreachable: the connection failed"),
    "NoRegionError": (SourceConfigError, "no region: set AWS_REGION"),
    "ProfileNotFound": (SourceConfigError, "AWS_PROFILE names a profile the AWS config lacks"),
}

BAD_ENDPOINT = (
    "AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SECRETS_MANAGER) is not a valid URL; "
    "it is not shown, as it may hold a password"
)


class HideSecretBodies(logging.Filter):
    """botocore logs each response body at DEBUG, and a GetSecretValue body is the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, bytes) and (b'"SecretString"' in a or b'"SecretBinary"' in a)
            for a in record.args
        ):
            record.args = ("<a Secrets Manager response, hidden by nova-config>",)
        return True


LOG_FILTER = HideSecretBodies()


class HideSecretRequests(logging.Filter):
    """botocore logs each request's parameters at DEBUG, and a PutSecretValue body is the
    secret (HideSecretBodies hides the answers; this, the requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(
            isinstance(a, dict) and any(m in str(a.get("body", "")) for m in _SECRET_MEMBERS)
            for a in args
        ):
            record.args = (args[0], "<a Secrets Manager request, hidden by nova-config>")
        return True


_SECRET_MEMBERS = ('"SecretString"', '"SecretBinary"')
REQUEST_FILTER = HideSecretRequests()


def hide_secrets_in_botocore_logs() -> None:
    """Install both filters on botocore's loggers (installing one twice is a no-op)."""
    logging.getLogger("botocore.parsers").addFilter(LOG_FILTER)
    logging.getLogger("botocore.endpoint").addFilter(REQUEST_FILTER)


def late(deadline: float) -> str:
    """What a step that NOVA_AWS_DEADLINE cut short is reported as."""
    return f"unreachable: no answer within {deadline:g} s (NOVA_AWS_DEADLINE)"


def failure_of(exc: Exception, timeout: float) -> Failure | None:
    """An SDK error as (error class, wording); None when the secret (or stage) does not exist."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - the SDK only when used

    if not isinstance(exc, ClientError):
        names = [k.__name__ for k in type(exc).__mro__ if k.__name__ in ERRORS]
        if not names:
            return StoreUnavailableError, f"the AWS SDK failed ({type(exc).__name__})"
        cls, wording = ERRORS[names[0]]
        return cls, wording.format(code=names[0], timeout=timeout)
    code = str(exc.response.get("Error", {}).get("Code", "no error code"))
    if code == "ResourceNotFoundException":
        return None
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in ERRORS:
        cls, wording = ERRORS[code]
    elif status in (401, 403):  # an unknown code: the HTTP status still says whose fault it is
        cls, wording = StoreAccessError, "access denied ({code})"
    elif status >= 500:
        cls, wording = StoreUnavailableError, "the service failed ({code})"
    elif 300 <= status < 400:
        # botocore does not follow a redirect from Secrets Manager, and neither does the load:
        # the request (signed, with the secret's name) goes nowhere else.
        cls, wording = StoreUnavailableError, f"redirected (HTTP {status}); not followed"
    else:
        cls, wording = StoreDataError, "the request was refused ({code})"
    return cls, wording.format(code=code, timeout=timeout)


__all__ = [
    "BAD_ENDPOINT",
    "ERRORS",
    "LOG_FILTER",
    "REQUEST_FILTER",
    "Failure",
    "HideSecretBodies",
    "failure_of",
    "hide_secrets_in_botocore_logs",
    "late",
]
