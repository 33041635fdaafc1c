"""One AWS secret outside a load (rotation, backup, restore): its client, reads and writes.

Each call reaches AWS as the source does: the same variables and the source's cached client
(its timeouts and two attempts per call), on a worker thread that NOVA_AWS_DEADLINE bounds, and
the SDK's errors are judged by the same table. A write given up on at the deadline may still
land: its error says so, with the version id it would have.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from nova_config.errors import (
    MissingExtraError,
    SettingsError,
    StoreAccessError,
    StoreDataError,
    StoreUnavailableError,
    UsageError,
)
from nova_config.hidden import HiddenDict, HiddenEnviron, HiddenStr
from nova_config.rotate import conflict
from nova_config.sources.aws import DEFAULT_STAGE, AwsSource
from nova_config.sources.aws_errors import (
    ERRORS,
    failure_of,
    hide_secrets_in_botocore_logs,
    late,
)
from nova_config.sources.base import LoadContext
from nova_config.sources.common import shown_url
from nova_config.sources.workers import finished_within

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


def attempt(
    call: Callable[[], T],
    where: str,
    timeout: float,
    denied: str | None = None,
    *,
    deadline: float,
    unsure: str = "",
) -> T:
    """One SDK call within `deadline` seconds (NOVA_AWS_DEADLINE), on a worker thread; its
    failure as the project's error, raised outside the except block.

    So the SDK's exception is not the error's context: its frames hold the request, and the
    request of a PutSecretValue holds the secret. `unsure` is added when the call was given up
    on: a write may still land.
    """
    failure: SettingsError | None = None
    try:
        done = finished_within(call, deadline)
        if done is not None:
            return done.result()
    except Exception as exc:
        failure = _failure(exc, where, timeout, denied)
    else:
        failure = StoreUnavailableError(f"{where}: {late(deadline)}{unsure}")
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
        self.timeout, self.deadline = source.timeout, source.deadline
        self.secret_id, _, self.key = origin.location.rpartition("#")
        self.where = f"AWS Secrets Manager: secret {self.secret_id}"
        self.client = attempt(source.client, self.where, self.timeout, deadline=self.deadline)
        endpoint = shown_url(self.client.meta.endpoint_url)
        self.where = f"AWS Secrets Manager at {endpoint}: secret {self.secret_id}"

    def get(self, stage: str) -> HiddenDict[str, Any] | None:
        """The version at `stage`; None when no version has it (AWSPENDING only)."""
        done = self.finished(
            lambda: self.client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        )
        failure: SettingsError | None = None
        try:
            return HiddenDict(done.result())
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
            deadline=self.deadline,
            unsure=f"; the new version may still be written (VersionId {token}): check the "
            "secret's versions before running again",
        )
        return str(put["VersionId"])

    def finished(self, call: Callable[[], T]) -> Future[T]:
        """An SDK call run on a worker thread and done within NOVA_AWS_DEADLINE; its `result()`
        gives the answer or raises the SDK's error, for the caller to judge.

        Raises:
            StoreUnavailableError: no answer in time (the call is given up on).
        """
        done = finished_within(call, self.deadline)
        if done is None:
            raise StoreUnavailableError(f"{self.where}: {late(self.deadline)}")
        return done

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
        done = self.finished(
            lambda: self.client.update_secret_version_stage(
                SecretId=self.secret_id, VersionStage=stage, **ids
            )
        )
        failure: SettingsError | None = None
        try:
            done.result()
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code == "InvalidParameterException":
                failure = conflict(f"{self.where}: {stage} moved since it was read; run again")
            else:
                failure = _failure(exc, self.where, self.timeout, STAGE_DENIED)
        if failure is not None:
            raise failure


__all__ = [
    "PENDING_STAGE",
    "PUT_DENIED",
    "STAGE_DENIED",
    "AwsSecret",
    "attempt",
    "members_of",
]
