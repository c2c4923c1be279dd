"""The processes tune starts (llama-server, its `--help`): each in a process group of its
own, so that a wrapper script that does not `exec` (and whatever it spawned) goes with it,
ended as a group (SIGTERM, then SIGKILL after a grace), and read with a bound on bytes and
time.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tokbench.errors import TokbenchError

GRACE_S = 5.0
HELP_LIMIT_BYTES = 1 << 20  # a llama-server --help is about 20 kB


def resolve_binary(name: str, what: str = "--server-bin") -> Path:
    """A path with a slash stays a path (`./llama-server` is the one here, resolved against
    the working directory); a bare name is looked up on PATH, as a shell would."""
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
    """Start argv in a new session (its own process group), output to `log`."""
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
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = GRACE_S) -> None:
    """End the process and every process of its group: SIGTERM, then SIGKILL for whatever
    is left after `grace_s` (the leader is reaped; orphans are reaped by init)."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)


def capture(argv: Sequence[str], timeout_s: float, what: str) -> str:
    """The output (stdout and stderr) of a short command, decoded with replacement, at most
    HELP_LIMIT_BYTES; its whole group is ended when it is done, runs past `timeout_s` or
    outputs without end."""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise TokbenchError(f"{what} does not run: {exc.strerror or exc}") from exc
    assert proc.stdout is not None  # stdout=PIPE
    out = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while len(out) < HELP_LIMIT_BYTES:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TokbenchError(f"{what} did not finish in {timeout_s:g} s (stopped)")
                if not sel.select(left):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        stop_group(proc, grace_s=1.0)
        proc.stdout.close()
    return out[:HELP_LIMIT_BYTES].decode("utf-8", errors="replace")
