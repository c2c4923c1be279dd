"""core.processes: a command runs in a process group of its own, is read with a bound on
bytes and time, and leaves nothing behind however the wait ends."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import process_alive
from tokbench.core.processes import run_captured, start, stop_group


def gone(pid: int, wait_s: float = 2.0) -> bool:
    deadline = time.monotonic() + wait_s
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_output_is_kept_and_a_child_holding_the_pipe_is_ended(tmp_path: Path) -> None:
    pid_file = tmp_path / "child"
    t0 = time.monotonic()
    done = run_captured(
        ["/bin/sh", "-c", f"sleep 300 & echo $! > {pid_file}; echo out; echo err >&2; exit 4"],
        timeout_s=10,
        limit_bytes=1000,
    )
    assert time.monotonic() - t0 < 3  # the shell's exit ends the wait, not the sleep's
    assert (done.stdout, done.stderr, done.returncode, done.timed_out) == (
        b"out\n", b"err\n", 4, False,
    )  # fmt: skip
    assert gone(int(pid_file.read_text()))


def test_merged_output_holds_both_streams() -> None:
    done = run_captured(["/bin/sh", "-c", "echo a; echo b >&2"], 10, 1000, merge_stderr=True)
    assert sorted(done.stdout.split()) == [b"a", b"b"] and done.stderr == b""


def test_an_endless_printer_is_stopped_at_the_limit() -> None:
    done = run_captured(["yes"], timeout_s=30, limit_bytes=5000)
    assert len(done.stdout) == 5000 and done.stdout.startswith(b"y\ny\n")
    assert done.returncode is None and not done.timed_out


def test_past_the_limit_the_command_may_be_left_to_its_deadline() -> None:
    t0 = time.monotonic()
    done = run_captured(["yes"], timeout_s=0.5, limit_bytes=5000, stop_at_limit=False, grace_s=0)
    assert done.timed_out and done.returncode is None and len(done.stdout) == 5000
    assert 0.4 < time.monotonic() - t0 < 3


def test_a_group_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    pid_file = tmp_path / "child"
    proc = start(
        ["/bin/sh", "-c", f"trap '' TERM; sleep 300 & echo $! > {pid_file}; wait"],
        tmp_path / "log",
    )
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    t0 = time.monotonic()
    stop_group(proc, grace_s=0.3)
    assert time.monotonic() - t0 < 3
    assert proc.returncode is not None and gone(int(pid_file.read_text()))
