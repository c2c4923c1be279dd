"""read_bounded: regular files only, and never more than the limit, counted as read."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from tokbench.core.files import read_bounded
from tokbench.errors import TokbenchError


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_bytes(b"x" * 1000)
    assert read_bounded(f, 1000) == b"x" * 1000


def test_the_limit_is_counted_not_taken_from_st_size() -> None:
    # /proc files say st_size 0 and hold more: the bound must still hold
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc here")
    assert status.stat().st_size == 0
    with pytest.raises(TokbenchError, match="larger than the 10 bytes"):
        read_bounded(status, 10)


def test_a_file_growing_past_the_limit_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "big.csv"
    f.write_bytes(b"y" * (2 * 2**20 + 1))
    with pytest.raises(TokbenchError, match="larger than the 2 MiB a benchmark file may be"):
        read_bounded(f, 2 * 2**20, "benchmark file")


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/dev/zero", "a character device"), ("/dev/null", "a character device"), ("/", "a folder")],
)
def test_special_files_are_refused(path: str, kind: str) -> None:
    with pytest.raises(TokbenchError, match=kind):
        read_bounded(path, 2**20)


def test_a_fifo_without_a_writer_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    outcome: list[str] = []

    def read() -> None:
        try:
            read_bounded(fifo, 2**20)
        except TokbenchError as exc:
            outcome.append(str(exc))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    assert outcome and "a pipe (FIFO)" in outcome[0]


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(TokbenchError, match=r"a socket|cannot read"):
            read_bounded(path, 2**20)


def test_a_missing_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(TokbenchError, match=r"cannot read .*: no such file"):
        read_bounded(tmp_path / "nope.json", 10)
