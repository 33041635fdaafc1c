"""The alerts' rate limit across processes: when each alert was last sent, in a small file.

The file (`NOVA_ALERT_STATE`, else `$XDG_STATE_HOME/nova-config/alerts.json`, else
`~/.local/state/nova-config/alerts.json`) maps an alert's key to its last send time. It is read,
checked and rewritten under an exclusive `flock`, so that processes starting together (a crash
loop) send one alert between them.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from nova_config.locks import lock_by

STATE_VARIABLE = "NOVA_ALERT_STATE"
WINDOW = 600.0  # seconds between two alerts of one key
MAX_STATE = 256 * 1024


class StateBusy(Exception):
    """The state file stayed locked by other processes until the deadline."""


def state_path(environ: Mapping[str, str]) -> Path | None:
    """Where the state is kept; None when neither the variable, XDG_STATE_HOME nor HOME says."""
    if environ.get(STATE_VARIABLE):
        return Path(environ[STATE_VARIABLE])
    state_home = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state_home):  # the XDG spec: a relative path is to be ignored
        home = environ.get("HOME", "")
        if not home:
            return None
        state_home = os.path.join(home, ".local", "state")
    return Path(state_home, "nova-config", "alerts.json")


def claim(path: Path, keys: Sequence[str], deadline: float) -> list[str]:
    """The keys not sent within `WINDOW`, their send time recorded now, before any post.

    Recording first keeps concurrent processes from both posting; a post that then fails is
    not tried again before the window ends (nor does a crash-looping pod pay the timeout on
    every start).

    Raises:
        StateBusy: the lock was not free before the deadline.
        OSError: the folder or file cannot be made, read or written.
    """
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode passes through the umask
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    try:
        if not lock_by(fd, deadline):
            raise StateBusy
        sent = read_state(fd)
        now = time.time()
        due = []
        for key in dict.fromkeys(keys):
            # A time in the future (the clock was set back) does not hold an alert back.
            if not 0 <= now - sent.get(key, -math.inf) < WINDOW:
                sent[key] = now
                due.append(key)
        if due:
            kept = {key: at for key, at in sent.items() if 0 <= now - at < WINDOW}
            data = json.dumps({"version": 1, "sent": kept}, sort_keys=True).encode()
            # Rewritten in place, not replaced by a rename: the lock belongs to this inode.
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
        return due
    finally:
        os.close(fd)  # and with it the lock


def read_state(fd: int) -> dict[str, float]:
    """The recorded send times; a corrupt or foreign file counts as empty (it is rewritten)."""
    data = os.read(fd, MAX_STATE + 1)
    try:
        state = json.loads(data) if len(data) <= MAX_STATE else None
    except ValueError:
        return {}
    sent = state.get("sent") if isinstance(state, dict) else None
    if not isinstance(sent, dict):
        return {}
    times = {key: at for key, at in sent.items() if type(at) in (int, float)}  # not a bool
    return {key: float(at) for key, at in times.items() if math.isfinite(at)}


__all__ = [
    "MAX_STATE",
    "STATE_VARIABLE",
    "WINDOW",
    "StateBusy",
    "claim",
    "read_state",
    "state_path",
]
