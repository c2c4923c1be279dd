"""NVIDIA GPUs through NVML (`pip install 'tokbench[nvml]'`, package nvidia-ml-py).

All GPUs are summed into one source. Volta and newer report total energy since the
driver loaded (`nvmlDeviceGetTotalEnergyConsumption`, millijoules); older boards only
power now (`nvmlDeviceGetPowerUsage`, milliwatts), so then the source samples power.
"""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType
from typing import Any

from tokbench.energy.base import PowerSourceError, ReadingKind

INSTALL_HINT = "pip install 'tokbench[nvml]'"


def load_pynvml() -> ModuleType:
    """The pynvml module, or a PowerSourceError saying how to install it."""
    try:
        return importlib.import_module("pynvml")
    except ImportError as e:
        raise PowerSourceError(
            f"NVML: the nvidia-ml-py package is not installed ({INSTALL_HINT})"
        ) from e


class NvmlSource:
    """Every NVIDIA GPU, summed: cumulative energy where all support it, else power."""

    name = "nvml"

    def __init__(self, nvml: ModuleType | None = None) -> None:
        self._nvml: Any = nvml if nvml is not None else load_pynvml()
        try:
            self._nvml.nvmlInit()
        except Exception as e:  # NVMLError subclasses; no driver or no GPU
            raise PowerSourceError(f"NVML: cannot initialise ({e})") from e
        try:
            count = int(self._nvml.nvmlDeviceGetCount())
            self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as e:
            self._nvml.nvmlShutdown()
            raise PowerSourceError(f"NVML: cannot list GPUs ({e})") from e
        if not self._handles:
            self._nvml.nvmlShutdown()
            raise PowerSourceError("NVML: no NVIDIA GPU found")
        self.kind: ReadingKind = "energy"
        try:
            self._first_mj = [self._energy_mj(h) for h in self._handles]
        except Exception:
            self.kind = "power"  # pre-Volta: NVML_ERROR_NOT_SUPPORTED
            self._first_mj = []
        self.scope = f"GPU x{len(self._handles)} (NVML)"

    def _energy_mj(self, handle: Any) -> int:
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))

    def read(self) -> float:
        try:
            if self.kind == "energy":
                now = [self._energy_mj(h) for h in self._handles]
                return sum(n - f for n, f in zip(now, self._first_mj, strict=True)) / 1e3
            return sum(int(self._nvml.nvmlDeviceGetPowerUsage(h)) for h in self._handles) / 1e3
        except Exception as e:
            raise PowerSourceError(f"NVML: reading failed ({e})") from e

    def close(self) -> None:
        # Already shut down, or the driver went away: nothing left to release.
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()
