"""A stand-in for Discord's webhook endpoint on 127.0.0.1: it counts posts and answers as told.

It can answer 204 (Discord's success), 429 with `retry_after` in the body or a Retry-After
header, any other status, hang (never answer) or trickle its answer a byte at a time. It serves
plain http, or https with a fresh self-signed certificate for 127.0.0.1 and localhost that is
its own CA.
"""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.certs import self_signed
from tests.support.loopback import HOST, serve, stop_serving

TOKEN = "AbCdEf-GhIjKl_MnOpQr0123456789"


class Answer(NamedTuple):
    """What the stand-in answers to one post."""

    status: int = 204
    retry_after: float | None = None  # in the JSON body, as Discord sends it
    header: str | None = None  # a Retry-After header
    mode: Literal["answer", "hang", "trickle"] = "answer"


class Post(NamedTuple):
    """One request the stand-in received."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


class DiscordStandIn(ThreadingHTTPServer):
    """Discord's webhook endpoint on 127.0.0.1: counts posts, keeps them, answers as scripted.

    With `tls`, the listening socket is wrapped and it serves https.
    """

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__((HOST, 0), _DiscordHandler)
        self.scheme = "http" if tls is None else "https"
        if tls is not None:
            # The handshake runs on the handler's thread at its first read, not in accept():
            # a client that never speaks TLS blocks only its own connection.
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )
        self.lock = threading.Lock()
        self.posts: list[Post] = []
        self.script: list[Answer] = []  # answers for the next posts; 204 once it runs out
        self.released = threading.Event()  # set at teardown: hanging handlers return

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    def url(self, token: str = TOKEN) -> str:
        """A webhook URL on this server, Discord-shaped: /api/webhooks/<id>/<token>."""
        return f"{self.scheme}://{HOST}:{self.port}/api/webhooks/123456789012345678/{token}"

    def next_answer(self) -> Answer:
        """The scripted answer for the post being handled."""
        with self.lock:
            return self.script.pop(0) if self.script else Answer()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up mid-answer is expected here, not an error to print."""


class _DiscordHandler(BaseHTTPRequestHandler):
    server: DiscordStandIn

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.posts.append(Post(self.path, dict(self.headers.items()), body))
        answer = self.server.next_answer()
        if answer.mode == "hang":
            self.server.released.wait(30)
        elif answer.mode == "trickle":
            # Each byte well within any socket timeout, the whole far beyond the bound.
            for byte in b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n":
                if self.server.released.wait(0.2):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        else:
            self._answer(answer)

    def _answer(self, answer: Answer) -> None:
        payload = b""
        if answer.status == 429:
            limited: dict[str, Any] = {"message": "You are being rate limited.", "global": False}
            if answer.retry_after is not None:
                limited["retry_after"] = answer.retry_after
            payload = json.dumps(limited).encode()
        self.send_response(answer.status)
        if answer.header is not None:
            self.send_header("Retry-After", answer.header)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # quiet: the tests read the posts, not stderr


class RunningDiscord:
    """A stand-in serving on a thread; `stop()` lets hanging handlers go and closes it.

    Attributes:
        server: the stand-in.
        ca_path: with `tls`, its certificate (PEM), which is also the CA to trust; else None.
    """

    def __init__(self, tls: bool = False) -> None:
        """Serve plain http, or https (`tls`) with a certificate made for this stand-in."""
        self.ca_path: Path | None = None
        self._folder: Path | None = None
        context = None
        if tls:
            self._folder = Path(tempfile.mkdtemp(prefix="discord-tls-"))
            self.ca_path, key_path = _self_signed(self._folder)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.ca_path, key_path)
        self.server = DiscordStandIn(context)
        self._thread = serve(self.server, "discord-stand-in")

    def url(self, token: str = TOKEN) -> str:
        """The stand-in's webhook URL (https with `tls`)."""
        return self.server.url(token)

    def stop(self) -> None:
        """Let hanging handlers go, stop serving, and remove the certificate's folder."""
        self.server.released.set()
        stop_serving(self.server, self._thread)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A P-256 key and a day's certificate for 127.0.0.1 and localhost, its own CA, as PEM files.

    Returns:
        The certificate's path and the key's path, both in `folder`.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed(key, "nova-config Discord stand-in", server=True)
    certificate_path, key_path = folder / "discord-ca.pem", folder / "discord-key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


__all__ = ["TOKEN", "Answer", "DiscordStandIn", "Post", "RunningDiscord"]
