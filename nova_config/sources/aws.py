"""AWS Secrets Manager: JSON secrets of key/value pairs, first listed first, read in one pass.

Upstream's `AWSSecretsManagerSettingsSource` is not reused: it reads one secret and only its
`SecretString`, selects no version stage, knows no aliases or kebab-case keys, sets no timeouts,
creates a client per load and lets `json.loads` errors (which quote the input) through.

boto3 alone decides credentials, region, profile and endpoint (`AWS_*` variables, `~/.aws`).
This module bounds the time a load can take:

- each attempt waits at most NOVA_AWS_TIMEOUT (3 s) to connect, and as long for each read;
- a call is tried twice at most (botocore's standard retry mode, backoff under 1 s);
- the load waits at most NOVA_AWS_DEADLINE (10 s) for the whole step: credentials, client and
  every call. A call still running then is abandoned, reported as unreachable, and ends on its
  own within 2 x (connect + read timeout) + 1 s once credentials are resolved (credential
  providers such as IMDS or STS keep their own timeouts).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from nova_config.errors import (
    MissingExtraError,
    Problem,
    SourceConfigError,
    StoreDataError,
    StoreUnavailableError,
)
from nova_config.fields import FieldPlan
from nova_config.sources.aws_errors import (
    BAD_ENDPOINT,
    Failure,
    failure_of,
    hide_secrets_in_botocore_logs,
    late,
)
from nova_config.sources.base import Found, LoadContext, Source, SourceResult
from nova_config.sources.common import Claims, ClientCache, seconds, shown_url
from nova_config.sources.workers import submit

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

ID_VARIABLE = "NOVA_AWS_SECRET_ID"
DEFAULT_STAGE = "AWSCURRENT"
DEFAULT_TIMEOUT = 3.0
DEFAULT_DEADLINE = 10.0
RETRIES = 1  # botocore's `max_attempts` counts retries: 1 means two attempts in all
MAX_CLIENTS = 4


def _close(client: SecretsManagerClient) -> None:
    client.close()


# One client per configuration (its timeouts), made once per process, not per load.
_clients: ClientCache[str, SecretsManagerClient] = ClientCache(MAX_CLIENTS, _close)


def close_clients() -> None:
    """Close and forget every cached Secrets Manager client (for tests, or after a reconfig)."""
    _clients.clear()


class _Reply(NamedTuple):
    """One GetSecretValue outcome: a record, as the package's other records are."""

    secret_id: str
    payload: str | bytes | None = None
    version: str | None = None
    failure: Failure | None = None

    def __repr__(self) -> str:
        # Error trackers capture frame locals with repr(); the payload is the secret.
        return f"_Reply({self.secret_id!r}, version={self.version!r})"


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in order, duplicates kept so that they can be reported."""

    def __repr__(self) -> str:
        # The members are the secrets; error trackers record frame locals with repr().
        return f"_Pairs(keys={[key for key, _ in self]!r})"


def _config_key(timeout: float) -> str:
    """A digest of what shapes a client, so that no raw credential is kept in a key."""
    # boto3 reads the process environment itself (and ~/.aws under HOME), not LoadContext. Only
    # the values of the names kept are read: decoding every value costs more than the key.
    environ = os.environ
    shaping = sorted((k, environ[k]) for k in environ if k.startswith("AWS_") or k == "HOME")
    return hashlib.sha256(repr((timeout, RETRIES, shaping)).encode()).hexdigest()


def _parse(payload: str | bytes) -> _Pairs | str:
    """The members of a JSON object, numbers kept as their JSON text; or why it is not one."""
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return "its SecretBinary is not UTF-8 text"
    try:
        data = json.loads(
            payload, object_pairs_hook=_Pairs, parse_int=str, parse_float=str, parse_constant=str
        )
    except ValueError:
        # Never chained or shown: the error's message and `.doc` quote the secret.
        return "it is not valid JSON"
    return data if isinstance(data, _Pairs) else "it is JSON but not an object"


def _new_client(timeout: float) -> SecretsManagerClient:
    from boto3.session import Session  # noqa: PLC0415 - the SDK only when used
    from botocore.config import Config  # noqa: PLC0415 - same

    hide_secrets_in_botocore_logs()
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": RETRIES},
    )
    # A new Session, not boto3's default one, so that changed AWS_* variables count.
    return Session().client("secretsmanager", config=config)


class AwsSource(Source):
    """Reads the secrets of NOVA_AWS_SECRET_ID, one GetSecretValue call each, concurrently."""

    name = "aws"

    def __init__(self, context: LoadContext) -> None:
        super().__init__(context)
        raw = context.environ.get(ID_VARIABLE, "")
        ids = [self._substitute(i.strip()) for i in raw.split(",")]
        self.secret_ids: tuple[str, ...] = tuple(dict.fromkeys(i for i in ids if i))
        if not self.secret_ids:
            raise SourceConfigError(f"{ID_VARIABLE} names no secret")
        self.stage = context.environ.get("NOVA_AWS_VERSION_STAGE", DEFAULT_STAGE).strip()
        if not self.stage:
            raise SourceConfigError("NOVA_AWS_VERSION_STAGE is empty")
        self.timeout = seconds(context.environ, "NOVA_AWS_TIMEOUT", DEFAULT_TIMEOUT)
        self.deadline = seconds(context.environ, "NOVA_AWS_DEADLINE", DEFAULT_DEADLINE)
        self._endpoint: str | None = None
        self._not_found: set[str] = set()
        self._by_key = context.plans_by_key()

    def _substitute(self, secret_id: str) -> str:
        for name in re.findall(r"\{([^{}]*)\}", secret_id):
            if name != "environment":
                raise SourceConfigError(
                    f"{ID_VARIABLE} has an unknown placeholder {{{name}}}; "
                    "only {environment} is replaced"
                )
        secret_id = secret_id.replace("{environment}", self.context.environment)
        if "{" in secret_id or "}" in secret_id:
            raise SourceConfigError(f"{ID_VARIABLE} has an unmatched {{ or }}")
        return secret_id

    @classmethod
    def skip_reason(cls, context: LoadContext) -> str | None:
        if ID_VARIABLE in context.environ:
            return None
        if "aws" in (n.strip().lower() for n in context.environ.get("NOVA_SOURCES", "").split(",")):
            raise SourceConfigError(f"{ID_VARIABLE} names no secret, yet NOVA_SOURCES names aws")
        return f"aws: {ID_VARIABLE} is not set"

    def load(self) -> SourceResult:
        try:
            import boto3  # noqa: F401, PLC0415 - the SDK only when used; fail early if missing
        except ImportError:
            raise MissingExtraError(
                "the aws source needs boto3: pip install 'nova-config[aws]'"
            ) from None
        from concurrent.futures import wait  # noqa: PLC0415 - only loads that use AWS need it

        # GetSecretValue per id, not BatchGetSecretValue: the batch call cannot select a
        # version stage and needs its own IAM permission (secretsmanager:BatchGetSecretValue).
        # On the process's daemon workers: the deadline bounds the whole step however boto3
        # spends it (credential providers, DNS, retries), and calls still running after it are
        # abandoned without holding the process open at exit.
        futures = [submit(partial(self._fetch, secret_id)) for secret_id in self.secret_ids]
        done, _ = wait(futures, timeout=self.deadline)
        for future in futures:
            future.cancel()  # one still queued behind abandoned calls never starts
        replies = [f.result() for f in futures if f in done]
        for reply in replies:  # highest priority first: the first failure is reported
            if reply.failure is not None:
                cls, wording = reply.failure
                raise cls(self._message(reply.secret_id, wording)) from None
        if len(replies) < len(futures):
            late_ids = ", ".join(
                s for s in self.secret_ids if s not in {r.secret_id for r in replies}
            )
            raise StoreUnavailableError(self._message(late_ids, late(self.deadline))) from None
        result = SourceResult()
        for reply in replies:
            self._read(reply, result)
        return result

    def client(self) -> SecretsManagerClient:
        """The Secrets Manager client for this configuration, made once per process."""
        key = _config_key(self.timeout)
        client = _clients.get(key)
        if client is None:
            with _clients.lock_for(key):  # one client per key, also when threads race
                client = _clients.get(key) or _clients.put(key, _new_client(self.timeout))
        self._endpoint = shown_url(client.meta.endpoint_url)
        return client

    def _fetch(self, secret_id: str) -> _Reply:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - SDK when used

        client = None
        try:
            client = self.client()
            response = client.get_secret_value(SecretId=secret_id, VersionStage=self.stage)
        except (BotoCoreError, ClientError) as exc:
            failure = failure_of(exc, self.timeout)
            if failure is None:
                self._not_found.add(secret_id)
            return _Reply(secret_id, failure=failure)
        except ValueError as exc:
            # botocore refuses an endpoint URL it cannot parse with a message that quotes it,
            # password included; any other surprise is named by its type only.
            bad_endpoint = client is None
            failure = (
                (SourceConfigError, BAD_ENDPOINT) if bad_endpoint else failure_of(exc, self.timeout)
            )
            return _Reply(secret_id, failure=failure)
        except Exception as exc:
            return _Reply(secret_id, failure=failure_of(exc, self.timeout))
        payload = response.get("SecretString", response.get("SecretBinary"))
        if payload is None:
            # Every real answer holds one of the two; botocore parses an answer cut short as {}.
            cut = "unreachable: the answer held no SecretString or SecretBinary (cut short?)"
            return _Reply(secret_id, failure=(StoreUnavailableError, cut))
        return _Reply(secret_id, payload, response.get("VersionId"))

    def _read(self, reply: _Reply, result: SourceResult) -> None:
        if reply.payload is None:
            return
        members = _parse(reply.payload)
        if isinstance(members, str):
            why = f"{members}; store the settings as a JSON object"
            raise StoreDataError(self._message(reply.secret_id, why)) from None
        claims = Claims(self._by_key, result)

        def clash(earlier: str, key: str, variable: str) -> str:
            keys = f"key {key} twice" if earlier == key else f"keys {earlier} and {key}"
            return f"secret {reply.secret_id} holds {keys} for {variable}; keep one"

        for key, value in members:
            # A secret listed earlier that already answered wins.
            plan = claims.claim(key, key, clash)
            if plan is None:
                continue
            if isinstance(value, str | bool):
                text = value if isinstance(value, str) else str(value).lower()
                result.found[plan.name] = Found(text, f"{reply.secret_id}#{key}", reply.version)
            else:
                message = f"{reply.secret_id}#{key} holds no text value (null, object or array)"
                result.problems.append(
                    Problem(plan.variable, f"{message}; store {plan.variable} as text", "source")
                )

    def _message(self, secret_ids: str, wording: str) -> str:
        return f"AWS Secrets Manager at {self._location()}: secret {secret_ids}: {wording}"

    def _location(self) -> str:
        if self._endpoint is not None:
            return self._endpoint
        # For messages only, before a client exists; boto3 alone decides where requests go.
        environ = os.environ
        url = environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or environ.get("AWS_ENDPOINT_URL")
        if url:
            return shown_url(url)
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        return f"region {region}" if region else "the region of the AWS profile"

    def places(self, plan: FieldPlan) -> str:
        names = " or ".join(dict.fromkeys(n.lower() for n in (plan.variable, *plan.aliases)))
        ids = ", ".join(
            s + (" (not found)" if s in self._not_found else "") for s in self.secret_ids
        )
        noun = "secret" if len(self.secret_ids) == 1 else "secrets"
        stage = "" if self.stage == DEFAULT_STAGE else f" at stage {self.stage}"
        return f"aws: key {names} (any case, - or _) in {noun} {ids}{stage}"

    def where(self) -> str:
        stage = "" if self.stage == DEFAULT_STAGE else f" (stage {self.stage})"
        return f"secrets manager {', '.join(self.secret_ids)}{stage} at {self._location()}"
