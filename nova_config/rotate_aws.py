"""A rotation's write to AWS Secrets Manager: the secret's JSON with one key changed, as a new
version (`PutSecretValue`), which AWS makes AWSCURRENT while the one before becomes AWSPREVIOUS.

It reaches AWS as the source does: the same variables and the source's cached client (its
timeouts and two attempts per call), and the SDK's errors are judged by the same table.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from nova_config.errors import (
    MissingExtraError,
    SettingsError,
    StoreAccessError,
    StoreDataError,
    UsageError,
)
from nova_config.hidden import HiddenDict, HiddenEnviron, HiddenStr
from nova_config.rotate import conflict
from nova_config.sources.aws import DEFAULT_STAGE, AwsSource
from nova_config.sources.aws_errors import ERRORS, failure_of
from nova_config.sources.base import LoadContext
from nova_config.sources.common import shown_url

if TYPE_CHECKING:
    from nova_config.provenance import Provenance

T = TypeVar("T")

PUT_DENIED = (
    "access denied ({code}): no secretsmanager:PutSecretValue on it, "
    "or kms:GenerateDataKey on its key"
)


def _put_refusal(exc: Exception) -> str | None:
    """The code of a refusal to write (AccessDeniedException, or a bare 401/403), else None."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - the SDK only when used

    if not isinstance(exc, ClientError):
        return None
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code == "AccessDeniedException" or (code not in ERRORS and status in (401, 403)):
        return code or str(status)
    return None


def _failure(exc: Exception, where: str, timeout: float, *, writing: bool) -> SettingsError:
    """An SDK error as the project's error, its message naming the place, never the SDK's text."""
    refusal = _put_refusal(exc) if writing else None
    if refusal is not None:
        return StoreAccessError(f"{where}: {PUT_DENIED.format(code=refusal)}")
    failure = failure_of(exc, timeout)
    if failure is None:
        return StoreDataError(f"{where}: it no longer exists (deleted since it was read?)")
    cls, wording = failure
    return cls(f"{where}: {wording}")


def _attempt(call: Callable[[], T], where: str, timeout: float, *, writing: bool = False) -> T:
    """One SDK call; its failure as the project's error, raised outside the except block.

    So the SDK's exception is not the error's context: its frames hold the request, and the
    request of a PutSecretValue holds the secret.
    """
    failure: SettingsError | None = None
    try:
        return call()
    except Exception as exc:
        failure = _failure(exc, where, timeout, writing=writing)
    raise failure


def _members(current: HiddenDict[str, Any], where: str) -> HiddenDict[str, Any]:
    """The secret's JSON object, its values hidden from repr; StoreDataError if it is not one.

    Every local that holds the secret's text is hidden too: error trackers record the repr of
    the locals of each frame an exception passes through.
    """
    try:
        text = HiddenStr(
            current["SecretString"]
            if "SecretString" in current
            else current["SecretBinary"].decode("utf-8")
        )
        data = json.loads(text, object_pairs_hook=HiddenDict)
    except (KeyError, ValueError):  # UnicodeDecodeError too; never chained: it quotes the text
        data = None
    if not isinstance(data, HiddenDict):
        raise StoreDataError(f"{where}: it no longer holds a JSON object") from None
    return data


def write_aws(origin: Provenance, candidate: str, environment: str) -> tuple[str, str]:
    """Put a new version of the secret a load read: its JSON with one key set, others kept.

    Args:
        origin: the field's provenance: `secret_id#key` and the VersionId read.
        candidate: the new value.
        environment: the environment of the load.

    Returns:
        The VersionId replaced (now AWSPREVIOUS) and the one written (now AWSCURRENT).

    Raises:
        RotationConflictError: AWSCURRENT is no longer the version the load read.
        UsageError: NOVA_AWS_VERSION_STAGE selects a stage other than AWSCURRENT.
        SourceError: AWS cannot be reached, or the credentials may not write (the message
            names secretsmanager:PutSecretValue).
    """
    candidate = HiddenStr(candidate)  # this frame's local, as error trackers record it
    try:
        import boto3  # noqa: F401, PLC0415 - the SDK only when used; fail early if missing
    except ImportError:
        raise MissingExtraError(
            "rotating an AWS secret needs boto3: pip install 'nova-config[aws]'"
        ) from None
    source = AwsSource(LoadContext(environment, HiddenEnviron(os.environ), ()))
    if source.stage != DEFAULT_STAGE:
        raise UsageError(
            f"NOVA_AWS_VERSION_STAGE is {source.stage}: the app reads that stage, and rotate "
            f"writes a new {DEFAULT_STAGE} version; rotate with the variable unset"
        )
    secret_id, _, key = origin.location.rpartition("#")
    where = f"AWS Secrets Manager: secret {secret_id}"
    client = _attempt(source.client, where, source.timeout)
    where = f"AWS Secrets Manager at {shown_url(client.meta.endpoint_url)}: secret {secret_id}"
    current: HiddenDict[str, Any] = _attempt(
        lambda: HiddenDict(client.get_secret_value(SecretId=secret_id, VersionStage=DEFAULT_STAGE)),
        where,
        source.timeout,
    )
    version = current.get("VersionId", "")
    if version != origin.version:
        raise conflict(f"{where}: changed since it was read (version {origin.version}); run again")
    binary = "SecretString" not in current
    data = _members(current, where)
    data[key] = candidate
    text = HiddenStr(json.dumps(data))
    value: HiddenDict[str, Any] = HiddenDict(
        {"SecretBinary": text.encode()} if binary else {"SecretString": text}
    )
    # One token for the call: botocore's retry of it then makes no second version.
    token = str(uuid.uuid4())
    put = _attempt(
        lambda: client.put_secret_value(SecretId=secret_id, ClientRequestToken=token, **value),
        where,
        source.timeout,
        writing=True,
    )
    return version, put["VersionId"]


__all__ = ["PUT_DENIED", "write_aws"]
