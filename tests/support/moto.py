"""A real moto server (AWS, in server mode), and a counting forwarder that can inject AWS faults."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from moto.server import ThreadedMotoServer

from tests.support.loopback import HOST, serve, stop_serving

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

REGION = "us-east-1"
# moto accepts any key pair until IAM is enforced; these are the suite's fake credentials.
FAKE_KEY_ID = "AKIAMOTOTESTKEY00001"
FAKE_SECRET_KEY = "moto-fake-secret-access-key"
HANG_LIMIT = 30.0  # a held request is let go after this, even if a test forgets to


def boto_environ(endpoint: str) -> dict[str, str]:
    """The AWS_* variables that point boto3 at `endpoint` with the suite's fake credentials.

    The instance-metadata endpoint is turned off: no test asks a real one for credentials.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1, on a port the OS chose, and admin clients for it."""

    def __init__(self) -> None:
        # Port 0: the OS picks a free port when the server binds, so no other process can
        # take it between choosing and binding.
        self._server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._clients: list[Any] = []

    def secrets(self) -> SecretsManagerClient:
        """A Secrets Manager client for setting up secrets, configured by arguments, not env."""
        client: SecretsManagerClient = self._client("secretsmanager")
        return client

    def iam(self) -> Any:
        """An IAM client for creating users and policies (untyped: no IAM stubs are installed)."""
        return self._client("iam")

    def user_with(self, policy: Mapping[str, Any] | str, name: str = "nova") -> dict[str, str]:
        """A new IAM user holding `policy` (a document, or its JSON); its access key.

        Returns:
            `AccessKeyId` and `SecretAccessKey`, for AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
            (moto checks them only inside `enforcing_iam()`).
        """
        iam = self.iam()
        user = f"{name}-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        document = policy if isinstance(policy, str) else json.dumps(policy)
        iam.put_user_policy(UserName=user, PolicyName="policy", PolicyDocument=document)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    def _client(self, service: str) -> Any:
        client = boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_KEY,
        )
        self._clients.append(client)
        return client

    @contextlib.contextmanager
    def enforcing_iam(self) -> Iterator[None]:
        """moto checks signatures and IAM policies inside this block, as AWS does.

        moto's server skips IAM until INITIAL_NO_AUTH_ACTION_COUNT requests have been served
        (infinite by default); `/moto-api/reset-auth` sets that count, here to 0, and back.
        """
        previous = self._reset_auth("0")
        try:
            yield
        finally:
            self._reset_auth(previous)

    def _reset_auth(self, count: str) -> str:
        request = urllib.request.Request(  # noqa: S310 - a fixed http URL on 127.0.0.1
            f"{self.url}/moto-api/reset-auth",
            data=count.encode(),
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - same
            previous: str = json.load(response)["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        return previous

    def stop(self) -> None:
        """Close the admin clients, stop serving and close the listening socket."""
        for client in self._clients:
            client.close()
        self._server.stop()
        # ThreadedMotoServer.stop() leaves the listening socket open.
        server = getattr(self._server, "_server", None)
        if server is not None:
            server.server_close()


class Forwarder:
    """A threaded HTTP proxy on 127.0.0.1 in front of moto: it records every request and, when
    told, answers GetSecretValue itself with a fault moto cannot produce, or not at all.

    Each connection serves one request (HTTP/1.0), so every API call is one recorded request.
    """

    def __init__(self, upstream: MotoServer) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str | None]] = []  # (operation, SecretId)
        self.fault: tuple[int, str] | None = None  # (HTTP status, AWS error code)
        self.hanging = False
        self.held = "GetSecretValue"
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = _ForwardServer((HOST, 0), _ForwardHandler)
        self._server.forwarder = self
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = serve(self._server, "moto-forwarder")

    def fail_with(self, code: str, status: int = 400) -> None:
        """Answer every GetSecretValue with AWS's JSON error `code`, as the real service does."""
        self.fault = (status, code)

    def hang(self, operation: str = "GetSecretValue") -> None:
        """Hold every request for `operation` unanswered until `release()` (or HANG_LIMIT s)."""
        self.hanging = True
        self.held = operation

    def release(self) -> None:
        """Stop holding requests: held ones are dropped without an answer, new ones forwarded."""
        self.hanging = False
        self.released.set()

    def gets(self) -> list[str | None]:
        """The SecretId of each GetSecretValue request seen, in order of arrival."""
        with self._lock:
            return [secret_id for op, secret_id in self.requests if op == "GetSecretValue"]

    def record(self, operation: str, secret_id: str | None) -> None:
        """Note one request the forwarder received."""
        with self._lock:
            self.requests.append((operation, secret_id))

    def stop(self) -> None:
        """Let held requests go, stop serving and close the listening socket."""
        self.release()
        stop_serving(self._server, self._thread)


class _ForwardServer(http.server.ThreadingHTTPServer):
    forwarder: Forwarder


class _ForwardHandler(http.server.BaseHTTPRequestHandler):
    server: _ForwardServer

    def do_POST(self) -> None:
        forwarder = self.server.forwarder
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2] or self.path
        try:
            secret_id = json.loads(body).get("SecretId")
        except (ValueError, AttributeError):
            secret_id = None
        forwarder.record(operation, secret_id)
        if forwarder.hanging and operation == forwarder.held:
            forwarder.released.wait(HANG_LIMIT)
            self.close_connection = True
            return  # the connection closes without an answer
        if operation == "GetSecretValue" and forwarder.fault is not None:
            status, code = forwarder.fault
            # The shape of a real Secrets Manager error (awsJson1_1); the message is marked so
            # tests can prove that botocore's message text is never shown.
            document = {"__type": code, "Message": f"injected-aws-message {code}"}
            self._send(status, json.dumps(document).encode(), "application/x-amz-json-1.1")
            return
        self._forward(body)

    def _forward(self, body: bytes) -> None:
        upstream = self.server.forwarder.upstream
        hop_by_hop = {"connection", "keep-alive", "content-length", "transfer-encoding"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
        connection = http.client.HTTPConnection(HOST, upstream.port, timeout=30)
        try:
            connection.request(self.command, self.path, body, headers)
            response = connection.getresponse()
            data = response.read()
            kept = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in hop_by_hop | {"server", "date"}
            ]
        finally:
            connection.close()
        self._send(response.status, data, None, kept)

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status)
        for key, value in headers or []:
            self.send_header(key, value)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
            self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the suite's output is for test results."""
