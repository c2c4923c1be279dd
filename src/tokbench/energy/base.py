"""What every power source is: the PowerSource protocol, its error, and sysfs helpers."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from tokbench.errors import TokbenchError

# "energy": read() returns a cumulative counter in joules (RAPL, amd_energy, NVML total
# energy); "power": read() returns instantaneous watts (IPMI, a command, power*_input).
ReadingKind = Literal["energy", "power"]

# The largest plausible reading: a rack of GPU servers. Anything above (or not finite) is a
# broken meter, refused as a failed sample rather than averaged into a run.
MAX_POWER_W = 100_000.0

# Reads one sysfs attribute; a parameter so tests can simulate root-only files.
ReadText = Callable[[Path], str]


class PowerSourceError(TokbenchError):
    """A power source could not be read; the message says why in one sentence."""


class PowerSource(Protocol):
    """A reader of one kind of power or energy figure."""

    @property
    def name(self) -> str:
        """Short id stored with results, e.g. "rapl", "ipmi", "power-cmd"."""
        ...

    @property
    def scope(self) -> str:
        """What the figure covers, e.g. "CPU+DRAM (RAPL)" or "wall (IPMI)"."""
        ...

    @property
    def kind(self) -> ReadingKind: ...

    def read(self) -> float:
        """Cumulative joules (kind "energy") or watts now (kind "power").

        Raises PowerSourceError when the reading fails.
        """
        ...

    def close(self) -> None: ...


def read_sysfs(path: Path) -> str:
    return path.read_text().strip()


def sysfs_int(path: Path, read_text: ReadText, what: str) -> int:
    """An integer sysfs attribute, or a PowerSourceError naming the file and the reason."""
    try:
        text = read_text(path)
    except PermissionError as e:
        raise PowerSourceError(
            f"{what}: cannot read {path}: permission denied{root_hint(path)}"
        ) from e
    except OSError as e:
        reason = e.strerror or errno.errorcode.get(e.errno or 0, str(e))
        raise PowerSourceError(f"{what}: cannot read {path}: {reason}") from e
    try:
        return int(text.strip())
    except ValueError as e:
        raise PowerSourceError(f"{what}: {path} holds {text.strip()[:40]!r}, not a number") from e


def root_hint(path: Path) -> str:
    """Why a counter may be unreadable: RAPL energy became root-only in Linux 5.10."""
    if "powercap" in str(path) or "rapl" in path.parent.name:
        return (
            " (since Linux 5.10, CVE-2020-8694, RAPL energy counters are readable only by "
            "root: run as root or `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj`)"
        )
    return " (run as root or make the file readable)"


class ConstantPower:
    """`--watts N`: a constant draw the user measured (e.g. with a wall meter)."""

    name = "watts"
    kind: ReadingKind = "power"

    def __init__(self, watts: float) -> None:
        if not 0 < watts <= MAX_POWER_W:
            raise TokbenchError(
                f"--watts must be a positive number of watts up to {MAX_POWER_W:g}, got {watts}"
            )
        self.watts = float(watts)
        self.scope = f"constant {self.watts:g} W (user-given)"

    def read(self) -> float:
        return self.watts

    def close(self) -> None:
        pass
