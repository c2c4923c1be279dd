"""Reading a user-named file with a bound on what it can cost: regular files only, opened
so that a pipe with no writer cannot hang the reader, and never more bytes than the
caller's limit, whatever the file claims to hold."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from tokbench.errors import TokbenchError

_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: Path | str, what: str = "file") -> BinaryIO:
    """The regular file at `path`, open for reading, or one TokbenchError sentence.

    The file is opened non-blocking and checked with fstat before any read, so a pipe with
    no writer is refused at once instead of hanging; the checked descriptor is the one
    returned, so the file cannot be swapped in between.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise TokbenchError(f"cannot read {p}: no such file") from None
    except OSError as exc:
        raise TokbenchError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise TokbenchError(f"cannot read {p}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise TokbenchError(f"{p} is {kind}, not a regular file: give the path of a {what}")
    return os.fdopen(fd, "rb")


def read_bounded(path: Path | str, limit_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit_bytes`, or one TokbenchError sentence.

    The limit is enforced by counting bytes read, not by trusting st_size (/dev/zero and
    /proc files report 0)."""
    p = Path(path)
    with open_regular(p, what) as f:
        chunks: list[bytes] = []
        total = 0
        try:
            while chunk := f.read(min(_CHUNK, limit_bytes + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit_bytes:
                    raise TokbenchError(
                        f"{p} is larger than the {_size(limit_bytes)} a {what} may be"
                    )
        except OSError as exc:
            raise TokbenchError(f"cannot read {p}: {exc.strerror or exc}") from None
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n} bytes"
