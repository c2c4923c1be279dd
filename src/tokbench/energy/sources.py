"""Which power sources this machine has, in the issue's order of preference.

Explicit choices win: `--watts N` or `--power-cmd CMD`. Otherwise the CPU side is RAPL,
or a known hwmon CPU chip when RAPL is missing or unreadable; GPUs (NVML, amdgpu hwmon)
are added to it, since they draw on top of the CPU. Only when neither exists is a
wall-power reader used (the ACPI power meter, then IPMI): a wall figure already contains
CPU and GPU, so it is never summed with them. Each source is read once here, so a
broken one is reported now, as a note, and the run goes on without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

from tokbench.energy.base import ConstantPower, PowerSource, PowerSourceError
from tokbench.energy.command import CommandSource
from tokbench.energy.hwmon import DEFAULT_HWMON, HwmonChip, HwmonSource, find_chips
from tokbench.energy.ipmi import IpmiSource
from tokbench.energy.nvml import NvmlSource
from tokbench.energy.rapl import DEFAULT_POWERCAP, RaplSource
from tokbench.errors import TokbenchError

__all__ = ["Detection", "PowerSource", "PowerSourceError", "detect_sources"]


@dataclass(frozen=True, slots=True)
class Detection:
    sources: tuple[PowerSource, ...]
    notes: tuple[str, ...]  # why a source was not used, one sentence each

    @property
    def label(self) -> str:
        """The `power_source` of every result: what the energy figure covers."""
        return " + ".join(s.scope for s in self.sources) or "no power source"


def _probe(make: Callable[[], PowerSource], notes: list[str]) -> PowerSource | None:
    """Build a source and read it once; a failure becomes a note."""
    try:
        source = make()
        source.read()
    except PowerSourceError as e:
        notes.append(str(e))
        return None
    return source


def detect_sources(
    *,
    watts: float | None = None,
    power_cmd: str | None = None,
    cmd_timeout_s: float = 2.0,
    powercap_root: Path = DEFAULT_POWERCAP,
    hwmon_root: Path = DEFAULT_HWMON,
    ipmitool: str = "ipmitool",
    ipmi_timeout_s: float = 5.0,
    use_nvml: bool = True,
    use_ipmi: bool = True,
    prefer_wall: bool = False,
    nvml_module: ModuleType | None = None,
) -> Detection:
    """The sources to sample; with none, results say "no power source"."""
    if watts is not None and power_cmd is not None:
        raise TokbenchError("give --watts or --power-cmd, not both")
    notes: list[str] = []
    if watts is not None:
        return Detection((ConstantPower(watts),), ())
    if power_cmd is not None:
        cmd = _probe(lambda: CommandSource(power_cmd, cmd_timeout_s), notes)
        return Detection((cmd,) if cmd else (), tuple(notes))

    chips = find_chips(hwmon_root)
    local: list[PowerSource] = []
    if not prefer_wall:
        rapl = _probe(lambda: RaplSource(powercap_root), notes)
        cpu = [rapl] if rapl else _first(chips, "cpu", notes)
        local.extend(cpu)
        if use_nvml:
            gpu = _probe(lambda: NvmlSource(nvml_module), notes)
            local.extend([gpu] if gpu else [])
        for chip in (c for c in chips if c.scope == "gpu"):
            local.extend(_first([chip], "gpu", notes))
    unknown = [c.name for c in chips if not c.scope]
    if unknown:
        notes.append(f"hwmon: power sensors of unknown scope not used ({', '.join(unknown)})")
    if local:
        return Detection(tuple(local), tuple(notes))
    wall = _first(chips, "wall", notes)
    if not wall and use_ipmi:
        ipmi = _probe(lambda: IpmiSource(ipmitool, ipmi_timeout_s), notes)
        wall = [ipmi] if ipmi else []
    if not wall and prefer_wall:
        notes.append("no wall-power reader found (ACPI power meter or IPMI)")
    return Detection(tuple(wall), tuple(notes))


def _first(chips: list[HwmonChip], scope: str, notes: list[str]) -> list[PowerSource]:
    """The first hwmon chip of this scope that reads, as a one-item list (or empty)."""
    for chip in chips:
        if chip.scope == scope:
            src = _probe(partial(HwmonSource, chip), notes)
            if src:
                return [src]
    return []
