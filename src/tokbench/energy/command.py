"""`--power-cmd CMD`: any command that prints watts (a smart plug, a USB meter).

The command runs through /bin/sh once per sample and must print one number, optionally
followed by W (`87.5`, `87.5 W`, `87.5W`). A command that hangs is killed with its whole
process group after the timeout, so a stuck pipeline cannot stall the sampler.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

from tokbench.energy.base import PowerSourceError, ReadingKind

_WATTS = re.compile(r"(?P<num>\+?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:[Ww](?:atts?)?)?")


def run_with_timeout(argv: list[str], timeout_s: float, what: str) -> str:
    """stdout of argv, or a PowerSourceError on failure or timeout (group killed)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its own process group, so a timeout kills all of it
        )
    except OSError as e:
        raise PowerSourceError(f"{what}: cannot run {argv[0]}: {e.strerror or e}") from e
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise PowerSourceError(f"{what}: no answer within {timeout_s:g} s (killed)") from e
    if proc.returncode != 0:
        detail = (err.strip() or out.strip()).splitlines()
        first = detail[0][:120] if detail else "no output"
        raise PowerSourceError(f"{what}: exited with status {proc.returncode} ({first})")
    return out


def parse_watts(text: str, what: str = "--power-cmd") -> float:
    """One non-negative number of watts, optionally followed by W; else a clear error."""
    stripped = text.strip()
    m = _WATTS.fullmatch(stripped)
    if m is None:
        shown = stripped[:60] or "nothing"
        raise PowerSourceError(
            f"{what} printed {shown!r}, not a number of watts (expected e.g. '87.5' or '87.5 W')"
        )
    return float(m.group("num"))


class CommandSource:
    """A user command printing watts, run once per sample."""

    name = "power-cmd"
    kind: ReadingKind = "power"

    def __init__(self, command: str, timeout_s: float = 2.0, shell: str = "/bin/sh") -> None:
        if not command.strip():
            raise PowerSourceError("--power-cmd is empty")
        self.command = command
        self.timeout_s = timeout_s
        self._argv = [shell, "-c", command]
        self.scope = f"user command ({command[:40]})"

    def read(self) -> float:
        out = run_with_timeout(self._argv, self.timeout_s, f"--power-cmd {self.command!r}")
        return parse_watts(out, f"--power-cmd {self.command!r}")

    def close(self) -> None:
        pass
