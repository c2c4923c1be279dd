"""Reading a user-named file with a bound on what it can cost: regular files only, and never
more bytes than the caller's limit, whatever the file claims to hold."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tokbench.errors import TokbenchError

_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bounded(path: Path | str, limit_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit_bytes`, or one TokbenchError sentence.

    The limit is enforced by counting bytes read, not by trusting st_size (/dev/zero and
    /proc files report 0). The file is opened non-blocking and checked with fstat before any
    read, so a pipe with no writer is refused at once instead of hanging; the checked
    descriptor is the one read, so the file cannot be swapped in between.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError as exc:
        raise TokbenchError(f"{p} is a folder, not a {what}") from exc
    except OSError as exc:
        raise TokbenchError(f"cannot read {p}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise TokbenchError(f"{p} is {kind}, not a {what}: give the path of a regular file")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit_bytes:
                raise TokbenchError(f"{p} is larger than the {_size(limit_bytes)} a {what} may be")
        return b"".join(chunks)
    except OSError as exc:
        raise TokbenchError(f"cannot read {p}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n} bytes"
