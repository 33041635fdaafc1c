"""An HTTP/1.1 server that keeps connections open, counting them, and can drop idle ones.

For the kept-alive connections' own tests: a dev server does not say how many TCP connections
it was given, and cannot be told to close one between two requests.
"""

from __future__ import annotations

import http.server
import threading
from typing import Any

from tests.support.loopback import HOST, serve, stop_serving


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _Handler)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.close_after_answer = False  # drop the connection after each answer, unannounced
        self.closed = threading.Event()  # set each time the server closes a connection

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.set()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive unless the client asks otherwise

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append(("GET", self.path, dict(self.headers.items())))
        payload = b'{"data": {"ok": true}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        if self.server.close_after_answer:
            # Closed as an idle server closes a kept-alive connection: after the answer, and
            # without saying so in it.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # quiet


class KeepAliveServer:
    """A keep-alive HTTP server on 127.0.0.1 answering every GET with a small JSON object.

    Attributes:
        addr: its base URL.
    """

    def __init__(self) -> None:
        self._server = _Server()
        self.addr = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = serve(self._server, "keepalive-server")

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._server.lock:
            return self._server.connections

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """Method, path and headers of every request answered so far."""
        with self._server.lock:
            return list(self._server.requests)

    def drop_idle_connections(self) -> None:
        """From now on, close each connection after its answer, as an idle timeout would."""
        with self._server.lock:
            self._server.close_after_answer = True

    def wait_closed(self, limit: float = 5.0) -> bool:
        """Wait until the server has closed a connection; whether it did within `limit` s."""
        return self._server.closed.wait(limit)

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
