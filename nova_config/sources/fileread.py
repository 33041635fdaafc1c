"""The one way a load reads a file: a regular file, a size cap, and a read that cannot block.

Secret files, `X_FILE` paths, `.env` files, `~/.vault-token` and the Kubernetes service-account
token all go through `read_text`, so none of them can hang a load (a FIFO, a procfs file such
as `/proc/kmsg`), stream forever (`/dev/zero`) or fill memory. Messages name the file and the
cause, never the content; decode errors, which quote the bytes around the bad one, are never
chained.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from nova_config.errors import FileReadError

MAX_SECRET_BYTES = 64 * 1024

# O_NONBLOCK: opening a FIFO returns at once (it is then refused as not a regular file), and a
# procfs or character file that would wait for data fails with EAGAIN instead of waiting.
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def size_text(limit: int) -> str:
    """A byte limit as people write it: `64 KiB`, `1 MiB`."""
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"


def read_text(path: str, limit: int = MAX_SECRET_BYTES) -> str:
    """Read a whole UTF-8 file of at most `limit` bytes, without ever blocking on it.

    Args:
        path: the file (symbolic links are followed).
        limit: the largest size accepted, in bytes.

    Returns:
        The file's text, as it is (no newline removed).

    Raises:
        FileReadError: the file is missing, unreadable, a folder, not a regular file, larger
            than `limit`, would block, or is not UTF-8.
    """
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass  # raised below, outside the handler: the decode error holds the bytes
    del data  # nor may this frame's locals, which error trackers record
    raise FileReadError(f"{path} is not UTF-8 text")


def read_bytes(path: str, limit: int, *, settle: Callable[[int], int] | None = None) -> bytes:
    """Read a whole file of at most `limit` bytes, without ever blocking on it.

    Args:
        path: the file (symbolic links are followed).
        limit: the largest size accepted, in bytes.
        settle: given the open descriptor, the size to read up to (a log being appended to
            is read as far as its last whole write); by default, to the end.

    Raises:
        FileReadError: as `read_text`, decoding aside.
    """
    too_large = f"{path} is larger than {size_text(limit)}"
    try:
        # Checked before opening too: opening some devices has effects of its own.
        _check_kind(path, os.stat(path).st_mode)
        fd = os.open(path, _FLAGS)
        try:
            info = os.fstat(fd)  # the file opened, which may differ from the one looked at
            _check_kind(path, info.st_mode)
            size = info.st_size if settle is None else settle(fd)
            if size > limit:
                raise FileReadError(too_large)
            want = limit + 1 if settle is None else size
            chunks: list[bytes] = []
            size = 0
            while size < want:
                chunk = os.read(fd, want - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise FileReadError(f"{path} does not exist (or is a dangling link)") from None
    except PermissionError:
        raise FileReadError(f"{path} cannot be read: permission denied") from None
    except BlockingIOError:
        raise FileReadError(
            f"{path} cannot be read without waiting (not an ordinary file)"
        ) from None
    except OSError as exc:
        raise FileReadError(f"{path} cannot be read: {exc.strerror}") from None
    if size > limit:
        raise FileReadError(too_large)
    return b"".join(chunks)


def _check_kind(path: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise FileReadError(f"{path} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise FileReadError(f"{path} is not a regular file")


__all__ = ["MAX_SECRET_BYTES", "read_bytes", "read_text", "size_text"]
