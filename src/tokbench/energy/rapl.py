"""Intel/AMD RAPL energy counters through the powercap sysfs tree.

Layout (kernel Documentation/power/powercap/powercap.rst): `intel-rapl:N` is package N,
`intel-rapl:N:M` its subzones, each with `name`, `energy_uj` (a counter in microjoules
that wraps at `max_energy_range_uj`). Package energy already contains its `core` and
`uncore` subzones, so the total is packages + `dram`; `psys` (the whole platform on some
laptops) overlaps the packages and MMIO zones duplicate them, so both are skipped.
RAPL covers CPU and DRAM only, never the wall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tokbench.energy.base import PowerSourceError, ReadingKind, ReadText, read_sysfs, sysfs_int

DEFAULT_POWERCAP = Path("/sys/class/powercap")
_PACKAGE = re.compile(r"intel-rapl:(\d+)")
_SUBZONE = re.compile(r"intel-rapl:(\d+):(\d+)")


@dataclass(frozen=True, slots=True)
class RaplZone:
    zone: str  # directory name, e.g. "intel-rapl:0:1"
    name: str  # its `name` file: "package-0", "dram", "core", ...
    path: Path
    max_range_uj: int


def find_zones(root: Path, read_text: ReadText = read_sysfs) -> tuple[list[RaplZone], list[str]]:
    """Zones to sum (packages and DRAM) and notes about anything unusable."""
    notes: list[str] = []
    dirs: dict[str, Path] = {}
    if not root.is_dir():
        return [], [f"RAPL: {root} does not exist (no powercap driver)"]
    # /sys/class/powercap lists every zone flat; a copied tree may only nest subzones.
    for d in sorted(root.iterdir()):
        if _PACKAGE.fullmatch(d.name):
            dirs[d.name] = d
            for sub in sorted(d.iterdir()) if d.is_dir() else []:
                if _SUBZONE.fullmatch(sub.name):
                    dirs.setdefault(sub.name, sub)
        elif _SUBZONE.fullmatch(d.name):
            dirs[d.name] = d
    zones: list[RaplZone] = []
    for zone, path in sorted(dirs.items()):
        try:
            name = read_text(path / "name")
        except OSError as e:
            notes.append(f"RAPL: cannot read {path / 'name'}: {e.strerror or e}")
            continue
        top = _PACKAGE.fullmatch(zone) is not None
        if (top and name.startswith("package")) or (not top and name == "dram"):
            try:
                max_range = sysfs_int(path / "max_energy_range_uj", read_text, "RAPL")
            except PowerSourceError as e:
                notes.append(str(e))
                continue
            zones.append(RaplZone(zone, name, path, max_range))
    if not zones and not notes:
        notes.append(f"RAPL: no package zones under {root}")
    return zones, notes


class RaplSource:
    """Sum of package and DRAM energy, unwrapped into joules since the first read."""

    name = "rapl"
    kind: ReadingKind = "energy"

    def __init__(self, root: Path = DEFAULT_POWERCAP, read_text: ReadText = read_sysfs) -> None:
        self.root = root
        self._read_text = read_text
        self.zones, self.notes = find_zones(root, read_text)
        if not self.zones:
            raise PowerSourceError("; ".join(self.notes))
        has_dram = any(z.name == "dram" for z in self.zones)
        self.scope = "CPU+DRAM (RAPL)" if has_dram else "CPU package (RAPL)"
        self._last: dict[str, int] = {}
        self._total_uj = 0

    def read(self) -> float:
        # Read every zone before updating state, so a failure leaves the totals consistent.
        raw = {z.zone: sysfs_int(z.path / "energy_uj", self._read_text, "RAPL") for z in self.zones}
        for z in self.zones:
            now = raw[z.zone]
            before = self._last.get(z.zone)
            if before is not None:
                # The counter wraps at max_energy_range_uj; one wrap per sample is the most
                # a 200 ms interval can see (a wrap takes minutes even at 500 W).
                self._total_uj += now - before if now >= before else now + z.max_range_uj - before
            self._last[z.zone] = now
        return self._total_uj / 1e6

    def close(self) -> None:
        pass
