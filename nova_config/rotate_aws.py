"""A rotation's write to AWS Secrets Manager: the secret's JSON with one key changed, as a new
version (`PutSecretValue`), which AWS makes AWSCURRENT while the one before becomes AWSPREVIOUS.

A database rotation (`rotate_db.py`) follows AWS's own protocol instead (`AwsStore`): the new
version is put labelled AWSPENDING, which the app never reads, and promoted afterwards by moving
AWSCURRENT to it (`UpdateSecretVersionStage`), which moves AWSPREVIOUS too.

Every call goes through `aws_secret.AwsSecret`: the source's client, NOVA_AWS_DEADLINE, the one
error table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova_config.aws_secret import PENDING_STAGE, AwsSecret
from nova_config.hidden import HiddenDict, HiddenStr
from nova_config.rotate import Staged
from nova_config.sources.aws import DEFAULT_STAGE

if TYPE_CHECKING:
    from nova_config.provenance import Provenance


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


__all__ = ["AwsStore", "write_aws"]
