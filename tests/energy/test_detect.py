"""Source detection order on fake sysfs trees, and NVML with a stand-in module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.energy.fakes import RaplZoneSpec, make_hwmon, make_powercap
from tokbench.energy.base import PowerSourceError
from tokbench.energy.nvml import NvmlSource
from tokbench.energy.sources import detect_sources


class FakeNvml(SimpleNamespace):
    """The pynvml calls NvmlSource makes, over per-GPU energy (mJ) and power (mW)."""

    def __init__(self, energy_mj: list[int] | None, power_mw: list[int]) -> None:
        super().__init__()
        self.energy_mj = energy_mj
        self.power_mw = power_mw
        self.shutdown = False

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shutdown = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.power_mw)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        if self.energy_mj is None:
            raise RuntimeError("Not Supported")
        return self.energy_mj[h]

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self.power_mw[h]


def test_rapl_first_then_gpu_summed(tmp_path: Path) -> None:
    tree = make_powercap(tmp_path, [RaplZoneSpec("intel-rapl:0", "package-0", 10)])
    hw = make_hwmon(
        tmp_path,
        [
            ("amd_energy", {"energy1_input": "5", "energy1_label": "Esocket0"}),
            ("power_meter", {"power1_average": "300000000"}),
        ],
    )
    fake: Any = FakeNvml([1000, 2000], [150_000, 160_000])
    d = detect_sources(powercap_root=tree.root, hwmon_root=hw, nvml_module=fake, use_ipmi=False)
    assert d.label == "CPU package (RAPL) + GPU x2 (NVML)"
    wall = detect_sources(
        powercap_root=tree.root, hwmon_root=hw, nvml_module=fake, prefer_wall=True
    )
    assert wall.label == "wall (hwmon power_meter)"


def test_hwmon_cpu_when_rapl_missing(tmp_path: Path) -> None:
    hw = make_hwmon(
        tmp_path,
        [
            ("mystery", {"power1_input": "1"}),
            ("amd_energy", {"energy1_input": "5", "energy1_label": "Esocket0"}),
        ],
    )
    d = detect_sources(powercap_root=tmp_path / "none", hwmon_root=hw, use_nvml=False)
    assert d.label == "CPU (hwmon amd_energy)"
    assert any("RAPL" in n and "does not exist" in n for n in d.notes)
    assert any("unknown scope" in n and "mystery" in n for n in d.notes)


def test_nvml_energy_counter_and_power_fallback() -> None:
    fake: Any = FakeNvml([10_000, 20_000], [100_000, 50_000])
    src = NvmlSource(fake)
    assert src.kind == "energy" and src.read() == 0.0
    fake.energy_mj = [12_500, 21_000]  # +2.5 J and +1 J
    assert src.read() == pytest.approx(3.5)
    src.close()
    assert fake.shutdown
    old: Any = FakeNvml(None, [100_000, 50_000])
    src = NvmlSource(old)
    assert src.kind == "power" and src.read() == pytest.approx(150.0)


def test_nvml_without_package_names_the_extra() -> None:
    if importlib.util.find_spec("pynvml") is not None:
        pytest.skip("pynvml is installed here")
    with pytest.raises(PowerSourceError, match=r"pip install 'tokbench\[nvml\]'"):
        NvmlSource()


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is None, reason="needs nvidia-ml-py")
def test_real_nvml_reads_a_gpu() -> None:
    try:
        src = NvmlSource()
    except PowerSourceError as e:
        pytest.skip(str(e))
    try:
        value = src.read()
        assert value >= 0.0
        if src.kind == "power":
            assert value > 1.0  # any powered GPU draws more than a watt
    finally:
        src.close()
