"""What the loopback servers share: the address they listen on, a free port, a serving thread."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import subprocess
import threading

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
# A request head larger than this is not a request these servers expect.
MAX_HEAD = 64 * 1024


def free_port(*, with_next: bool = False) -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Args:
        with_next: also require port + 1 to be free (a dev server's cluster listener takes it).

    Returns:
        The port number.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind((HOST, 0))
            port: int = first.getsockname()[1]
            if not with_next:
                return port
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
                try:
                    second.bind((HOST, port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process by its PID and reap it: SIGTERM, then SIGKILL if it ignores it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_head(connection: socket.socket, limit: float) -> bytes:
    """What a client sends up to the end of its request head (or until it stops sending).

    What was read past the head (the start of a body) is returned with it.
    """
    connection.settimeout(limit)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def serve(server: socketserver.BaseServer, name: str) -> threading.Thread:
    """Serve on a daemon thread of this name, started before returning."""
    # A short poll interval keeps shutdown() from waiting up to half a second.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer, thread: threading.Thread | None) -> None:
    """Stop serving, close the listening socket, and wait for the serving thread (if started)."""
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=STOP_TIMEOUT)
