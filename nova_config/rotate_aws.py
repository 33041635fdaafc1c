"""A rotation's write to AWS Secrets Manager: the secret's JSON with one key changed, as a new
version (`PutSecretValue`), which AWS makes AWSCURRENT while the one before becomes AWSPREVIOUS.

A database rotation (`rotate_db.py`) follows AWS's own protocol instead (`AwsStore`): the new
version is put labelled AWSPENDING, which the app never reads, and promoted afterwards by moving
AWSCURRENT to it (`UpdateSecretVersionStage`), which moves AWSPREVIOUS too.

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
from nova_config.rotate import Staged, conflict
from nova_config.sources.aws import DEFAULT_STAGE, AwsSource
from nova_config.sources.aws_errors import ERRORS, failure_of, hide_secrets_in_botocore_logs
from nova_config.sources.base import LoadContext
from nova_config.sources.common import shown_url

if TYPE_CHECKING:
    from nova_config.provenance import Provenance

T = TypeVar("T")

PUT_DENIED = (
    "access denied ({code}): no secretsmanager:PutSecretValue on it, "
    "or kms:GenerateDataKey on its key"
)
STAGE_DENIED = "access denied ({code}): no secretsmanager:UpdateSecretVersionStage on it"
PENDING_STAGE = "AWSPENDING"


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


def _failure(exc: Exception, where: str, timeout: float, denied: str | None) -> SettingsError:
    """An SDK error as the project's error, its message naming the place, never the SDK's text.

    `denied` words a refusal to write (it names the IAM action), None for a read.
    """
    refusal = _put_refusal(exc) if denied else None
    if refusal is not None and denied is not None:
        return StoreAccessError(f"{where}: {denied.format(code=refusal)}")
    failure = failure_of(exc, timeout)
    if failure is None:
        return StoreDataError(f"{where}: it no longer exists (deleted since it was read?)")
    cls, wording = failure
    return cls(f"{where}: {wording}")


def attempt(call: Callable[[], T], where: str, timeout: float, denied: str | None = None) -> T:
    """One SDK call; its failure as the project's error, raised outside the except block.

    So the SDK's exception is not the error's context: its frames hold the request, and the
    request of a PutSecretValue holds the secret.
    """
    failure: SettingsError | None = None
    try:
        return call()
    except Exception as exc:
        failure = _failure(exc, where, timeout, denied)
    raise failure


def members_of(current: HiddenDict[str, Any], where: str) -> HiddenDict[str, Any]:
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


def _source(environment: str) -> AwsSource:
    """The source's configuration for this environment; refused unless it reads AWSCURRENT."""
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
    return source


class AwsSecret:
    """One secret's client, name, key and the place messages name (the endpoint included)."""

    def __init__(self, origin: Provenance, environment: str) -> None:
        source = _source(environment)
        hide_secrets_in_botocore_logs()
        self.timeout = source.timeout
        self.secret_id, _, self.key = origin.location.rpartition("#")
        self.where = f"AWS Secrets Manager: secret {self.secret_id}"
        self.client = attempt(source.client, self.where, self.timeout)
        endpoint = shown_url(self.client.meta.endpoint_url)
        self.where = f"AWS Secrets Manager at {endpoint}: secret {self.secret_id}"

    def get(self, stage: str) -> HiddenDict[str, Any] | None:
        """The version at `stage`; None when no version has it (AWSPENDING only)."""
        failure: SettingsError | None = None
        try:
            return HiddenDict(
                self.client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
            )
        except Exception as exc:
            # ResourceNotFoundException: the secret was just read at AWSCURRENT, so it is the
            # stage that no version has.
            if stage == PENDING_STAGE and failure_of(exc, self.timeout) is None:
                return None
            failure = _failure(exc, self.where, self.timeout, None)
        raise failure

    def current(self, version: str | None) -> HiddenDict[str, Any]:
        """AWSCURRENT, which must still be `version`; else a conflict."""
        current = self.get(DEFAULT_STAGE) or HiddenDict()
        if current.get("VersionId", "") != version:
            raise conflict(
                f"{self.where}: changed since it was read (version {version}); run again"
            )
        return current

    def merged(self, current: HiddenDict[str, Any], candidate: HiddenStr) -> HiddenDict[str, Any]:
        """PutSecretValue's value: the version's JSON with the key set, in its own form."""
        binary = "SecretString" not in current
        data = members_of(current, self.where)
        data[self.key] = candidate
        text = HiddenStr(json.dumps(data))
        return HiddenDict({"SecretBinary": text.encode()} if binary else {"SecretString": text})

    def put(self, value: HiddenDict[str, Any], stages: list[str] | None = None) -> str:
        """A new version; its VersionId. One token for the call: botocore's retry of it then
        makes no second version."""
        token = str(uuid.uuid4())
        labels: dict[str, Any] = {} if stages is None else {"VersionStages": stages}
        put = attempt(
            lambda: self.client.put_secret_value(
                SecretId=self.secret_id, ClientRequestToken=token, **labels, **value
            ),
            self.where,
            self.timeout,
            PUT_DENIED,
        )
        return str(put["VersionId"])

    def value_of(self, version: HiddenDict[str, Any], stage: str) -> HiddenStr:
        """The key's value in a version; a version without it is refused."""
        value = members_of(version, self.where).get(self.key)
        if isinstance(value, str):
            return HiddenStr(value)
        why = f"{self.where}: its {stage} version holds no text value at {self.key}"
        if stage == PENDING_STAGE:
            why += " (another rotation's?); finish or cancel that rotation first"
        raise StoreDataError(why)

    def move(self, stage: str, *, to: str | None = None, away: str | None = None) -> None:
        """Move the label `stage` to the version `to`, from the version `away` (either may be
        None); AWS refuses a move `away` from a version that no longer has it: a conflict."""
        ids = {"MoveToVersionId": to} if to else {}
        ids |= {"RemoveFromVersionId": away} if away else {}
        failure: SettingsError | None = None
        try:
            self.client.update_secret_version_stage(
                SecretId=self.secret_id, VersionStage=stage, **ids
            )
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code == "InvalidParameterException":
                failure = conflict(f"{self.where}: {stage} moved since it was read; run again")
            else:
                failure = _failure(exc, self.where, self.timeout, STAGE_DENIED)
        if failure is not None:
            raise failure


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
    secret = AwsSecret(origin, environment)
    current = secret.current(origin.version)
    return str(current["VersionId"]), secret.put(secret.merged(current, candidate))


class AwsStore:
    """A database rotation's staging in AWS Secrets Manager: AWSPENDING, then AWSCURRENT moved.

    Each call is bounded as the source's are (NOVA_AWS_TIMEOUT per attempt, two attempts).
    Secrets Manager has no check-and-set for a new version, but a label moved away from a
    version that no longer has it is refused, which the promotion relies on.
    """

    def __init__(self, origin: Provenance, environment: str) -> None:
        self._secret = AwsSecret(origin, environment)

    def read(self) -> Staged:
        """AWSCURRENT's value and VersionId, and AWSPENDING's if a version has that label."""
        secret = self._secret
        current = secret.get(DEFAULT_STAGE) or HiddenDict()
        value = secret.value_of(current, DEFAULT_STAGE)
        pending = secret.get(PENDING_STAGE)
        if pending is None:
            return Staged(value, current.get("VersionId"))
        return Staged(
            value,
            current.get("VersionId"),
            secret.value_of(pending, PENDING_STAGE),
            pending.get("VersionId"),
        )

    def stage(self, staged: Staged, candidate: str) -> Staged:
        """Put `candidate` as a new version labelled AWSPENDING only; AWSCURRENT stays."""
        candidate = HiddenStr(candidate)  # this frame's local, as error trackers record it
        secret = self._secret
        current = secret.current(staged.version)
        new = secret.put(secret.merged(current, candidate), [PENDING_STAGE])
        return Staged(staged.current, staged.version, candidate, new)

    def promote(self, staged: Staged) -> str:
        """Move AWSCURRENT to the pending version (AWSPREVIOUS follows), then remove its
        AWSPENDING label; the VersionId now current."""
        pending = staged.pending_version
        if pending is None:
            raise ValueError("nothing is pending")
        if pending != staged.version:  # not already moved by a run stopped in between
            self._secret.move(DEFAULT_STAGE, to=pending, away=staged.version)
        self._secret.move(PENDING_STAGE, away=pending)
        return pending

    def discard(self, staged: Staged) -> Staged:
        """Remove the AWSPENDING label; the version it was on is no longer served by any."""
        self._secret.move(PENDING_STAGE, away=staged.pending_version)
        return Staged(staged.current, staged.version)


__all__ = [
    "PENDING_STAGE",
    "PUT_DENIED",
    "STAGE_DENIED",
    "AwsSecret",
    "AwsStore",
    "attempt",
    "members_of",
    "write_aws",
]
