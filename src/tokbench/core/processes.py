"""The commands tokbench runs (llama-server and its `--help`, a power meter's command, IPMI):
each in a process group of its own, so that whatever it starts (a wrapper script that does
not `exec`, a pipeline's background child) ends with it. A command is waited for with a
bound on time and on the bytes read, and its whole group is ended however the wait ends:
done, timed out, or interrupted (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokbench.errors import TokbenchError

GRACE_S = 5.0  # from SIGTERM to SIGKILL: a server gets time to free its memory
POLL_S = 0.05  # how soon a command's exit is noticed while a child still holds its output
_READ_BYTES = 65536


def resolve_binary(name: str, what: str) -> Path:
    """A path with a slash stays a path (`./llama-server` is the one here, resolved against
    the working directory); a bare name is looked up on PATH, as a shell would. `what`
    names the option in the sentence of a name that is not found."""
    if os.sep in name or (os.altsep and os.altsep in name):
        # absolute and normalised, symlinks kept (a wrapper's name is what the user chose)
        path = Path(os.path.normpath(Path(name).expanduser().absolute()))
        if not path.is_file():
            raise TokbenchError(f"{what} {name}: no such file")
        return path
    found = shutil.which(name)
    if found is None:
        raise TokbenchError(
            f"{what} {name}: not found on PATH (for a file in this folder, write ./{name})"
        )
    return Path(found)


def start(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start argv in a new session (its own process group), output to `log`; end it with
    `stop_group`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we cannot signal: not ours to wait for
        return False
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, sig)


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = GRACE_S) -> None:
    """End the process and every process of its group: SIGTERM, then SIGKILL for whatever
    is left after `grace_s` (0: SIGKILL at once). The leader is reaped; orphans are reaped
    by init."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    if grace_s > 0:
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=max(grace_s, 1.0))


@dataclass(frozen=True, slots=True)
class Captured:
    """What a command printed (each at most the limit) and how it ended."""

    stdout: bytes  # with stderr in it when merged
    stderr: bytes  # empty when merged into stdout
    returncode: int | None  # None: stopped before it exited (timed out, or past the limit)
    timed_out: bool


def run_captured(
    argv: Sequence[str],
    timeout_s: float,
    limit_bytes: int,
    *,
    merge_stderr: bool = False,
    stop_at_limit: bool = True,
    grace_s: float = 1.0,
) -> Captured:
    """Run argv (stdin closed) in its own process group and read its output until it exits
    or `timeout_s` passes; then end its whole group (see `stop_group`).

    Once the command itself has exited, only what its output already holds is read: a
    background child that keeps the pipe open costs nothing. Reading stops at
    `limit_bytes`; then the command is stopped at once (`stop_at_limit`: an endless
    printer gives what it printed) or left until the timeout to exit (a command that must
    not print that much). Raises OSError when the command cannot start."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        start_new_session=True,
    )
    pipes = [p for p in (proc.stdout, proc.stderr) if p is not None]
    got = {p.fileno(): bytearray() for p in pipes}
    deadline = time.monotonic() + timeout_s
    timed_out = stopped_at_limit = False
    exited: int | None = None
    try:
        with selectors.DefaultSelector() as sel:
            for pipe in pipes:
                sel.register(pipe, selectors.EVENT_READ)
            while sel.get_map():
                exited = proc.poll()
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                events = sel.select(0 if exited is not None else min(left, POLL_S))
                if not events and exited is not None:
                    break  # it has exited and its output holds nothing more
                for key, _ in events:
                    chunk = os.read(key.fd, _READ_BYTES)
                    if chunk:
                        got[key.fd] += chunk
                    else:
                        sel.unregister(key.fileobj)
                if sum(map(len, got.values())) >= limit_bytes:
                    stopped_at_limit = stop_at_limit
                    break
        if exited is None and not (timed_out or stopped_at_limit):
            # all read (or all it may print): the command has until the deadline to exit
            try:
                exited = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        stop_group(proc, grace_s)
        for pipe in pipes:
            pipe.close()
    out, *err = (bytes(b[:limit_bytes]) for b in got.values())  # stdout first
    return Captured(out, err[0] if err else b"", exited, timed_out)
