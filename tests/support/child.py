"""Child processes with a time limit, and a child whose resolver never answers.

Fault injection at the DNS layer. Where the machine cannot isolate a child's resolver (not root,
no `unshare`), `run_without_dns` raises unittest.SkipTest, which pytest reports as a skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import unittest
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.loopback import STOP_TIMEOUT


@dataclass(frozen=True)
class Finished:
    """How a child process ended.

    Attributes:
        code: its exit status (negative: the signal that ended it).
        output: stdout and stderr together.
        seconds: from start to exit (or to being killed).
        killed: it was still running at the time limit and was killed.
        dns_queries: the queries the never-answering nameserver received (0 outside it).
    """

    code: int
    output: str
    seconds: float
    killed: bool
    dns_queries: int = 0

    def assert_failed_within(self, seconds: float) -> None:
        """It exited on its own with status 1 (a failed load) in under `seconds`."""
        assert not self.killed, self.output
        assert self.code == 1, self.output
        assert self.seconds < seconds


def run_child(argv: Sequence[str], env: Mapping[str, str], limit: float) -> Finished:
    """Run a command in a new process group; kill the group if it outlives `limit` seconds."""
    started = time.monotonic()
    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed = False
    try:
        try:
            output, _ = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            killed = True
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=STOP_TIMEOUT)
        seconds = time.monotonic() - started
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    return Finished(process.returncode, output, seconds, killed)


# The resolv.conf goes over /etc/resolv.conf only in the child's own mount namespace.
_BIND_RESOLV_CONF = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'


def _deaf_nameserver() -> socket.socket:
    """A UDP socket on port 53 of some loopback address that reads nothing and answers nothing.

    Bound, so queries are not refused at once (an unbound port answers ICMP unreachable and
    the resolver gives up in microseconds); never read, so each query waits its full timeout.
    """
    for _ in range(20):
        address = f"127.53.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
        nameserver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            nameserver.bind((address, 53))
        except OSError:
            nameserver.close()
            continue
        return nameserver
    raise unittest.SkipTest(
        "no loopback address had UDP port 53 free for a never-answering nameserver"
    )


def _drain(nameserver: socket.socket) -> int:
    nameserver.setblocking(False)
    count = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            nameserver.recv(4096)
            count += 1
    return count


def run_without_dns(
    argv: Sequence[str], env: Mapping[str, str], limit: float, workdir: Path
) -> Finished:
    """Run a command in a child whose only nameserver receives queries and never answers.

    The child gets its own mount namespace (`unshare -m`) with a resolv.conf bind-mounted over
    /etc/resolv.conf: `nameserver 127.53.x.y` and `options timeout:5 attempts:3`, as a
    resolver behind a dead network would be. glibc then spends 15 s in each getaddrinfo()
    (checked by hand: A and AAAA queries, three attempts, 5 s each) before it fails.

    Raises unittest.SkipTest (a skip, under pytest) when not root or when the namespace cannot
    be set up.
    """
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        raise unittest.SkipTest(
            "a never-answering resolver needs root and unshare (mount namespaces)"
        )
    nameserver = _deaf_nameserver()
    try:
        address = nameserver.getsockname()[0]
        resolv_conf = workdir / "resolv.conf"
        resolv_conf.write_text(
            f"nameserver {address}\noptions timeout:5 attempts:3\n", encoding="utf-8"
        )
        wrapper = [unshare, "-m", "sh", "-c", _BIND_RESOLV_CONF, str(resolv_conf)]
        probe = run_child([*wrapper, "cat", "/etc/resolv.conf"], env, limit=STOP_TIMEOUT)
        if probe.code != 0 or f"nameserver {address}" not in probe.output:
            raise unittest.SkipTest(f"unshare -m with mount --bind failed: {probe.output.strip()}")
        finished = run_child([*wrapper, *argv], env, limit)
        queries = _drain(nameserver)
    finally:
        nameserver.close()
    return Finished(
        finished.code, finished.output, finished.seconds, finished.killed, dns_queries=queries
    )
