"""`--power-cmd CMD`: any command that prints watts (a smart plug, a USB meter).

The command runs through /bin/sh once per sample and must print one number, optionally
followed by W (`87.5`, `87.5 W`, `87.5W`), between 0 and 100 kW. It runs in its own process
group, and the whole group is killed once the shell exits or the timeout passes: a stuck
pipeline cannot stall the sampler, and nothing it starts in the background outlives the
sample. Output is read without waiting (at most OUTPUT_LIMIT bytes, decoded with
replacement), so a child that keeps the pipe open or floods it costs nothing.
"""

from __future__ import annotations

import math
import re

from tokbench.core.processes import run_captured
from tokbench.energy.base import MAX_POWER_W, PowerSourceError, ReadingKind

OUTPUT_LIMIT = 64 * 1024  # a pipe's buffer: more than any meter prints

_WATTS = re.compile(r"(?P<num>\+?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:[Ww](?:atts?)?)?")


def run_with_timeout(argv: list[str], timeout_s: float, what: str) -> str:
    """stdout of argv, or a PowerSourceError on failure or timeout. The command's process
    group is killed in every case, background children included."""
    try:
        # a meter that floods its output is left to its deadline (stop_at_limit=False)
        done = run_captured(argv, timeout_s, OUTPUT_LIMIT, stop_at_limit=False, grace_s=0)
    except OSError as e:
        raise PowerSourceError(f"{what}: cannot run {argv[0]}: {e.strerror or e}") from e
    if done.timed_out:
        raise PowerSourceError(f"{what}: no answer within {timeout_s:g} s (killed)")
    out = done.stdout.decode("utf-8", errors="replace")
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", errors="replace")
        detail = (err.strip() or out.strip()).splitlines()
        # printable characters only: the text is the command's, not ours to send to a terminal
        first = "".join(c if c.isprintable() else "?" for c in detail[0][:120]) if detail else ""
        raise PowerSourceError(
            f"{what}: exited with status {done.returncode} ({first or 'no output'})"
        )
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
    watts = float(m.group("num"))
    if not (math.isfinite(watts) and 0 <= watts <= MAX_POWER_W):
        raise PowerSourceError(
            f"{what} printed {stripped[:60]!r}: a power reading must be 0 to "
            f"{MAX_POWER_W / 1000:g} kW, so the sample is refused"
        )
    return watts


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
