"""Helpers of the live-reload tests and benchmark: files changed as stores change them, waits.

A Kubernetes secret volume as the kubelet writes it (a timestamped folder, the `..data` link
swapped in one rename, one link per key), a `.env` replaced with a distinct modification time,
and a bounded wait for a condition.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

_STAMPS = itertools.count(1)


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Whether `condition()` became true within `timeout` seconds (checked every 10 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def write_volume(folder: Path, files: Mapping[str, str]) -> Path:
    """Write a Kubernetes secret volume's new version, as the kubelet's atomic writer does.

    The files go into a new `..<timestamp>` folder, a `..data_tmp` link to it is renamed over
    `..data` (one atomic step), each key is a link `name -> ..data/name`, and the folder of the
    version before is removed.

    Returns:
        The new version's folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    version = folder / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{next(_STAMPS):09d}"
    version.mkdir()
    for name, text in files.items():
        (version / name).write_text(text, encoding="utf-8")
    data = folder / "..data"
    before = os.readlink(data) if data.is_symlink() else None
    staged = folder / "..data_tmp"
    os.symlink(version.name, staged)
    os.replace(staged, data)
    for name in files:
        link = folder / name
        if not link.is_symlink():
            os.symlink(f"..data/{name}", link)
    if before is not None:
        shutil.rmtree(folder / before)
    return version


def replace_file(path: Path, text: str) -> None:
    """Replace a file in one rename, with a modification time no earlier write has had."""
    staged = path.with_name(path.name + ".tmp")
    staged.write_text(text, encoding="utf-8")
    stamp = time.time_ns() + next(_STAMPS) * 1_000_000
    os.utime(staged, ns=(stamp, stamp))
    os.replace(staged, path)


def dotenv_text(values: Mapping[str, str]) -> str:
    """The lines of a `.env` holding `values`."""
    return "".join(f"{name}={value}\n" for name, value in values.items())
