"""hwmon energy and power sensors in the kernel's sysfs format."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.energy.fakes import FakeClock, make_hwmon
from tokbench.energy.hwmon import HwmonSource, find_chips
from tokbench.energy.sampler import Sampler

AMD_ENERGY = {
    "energy1_input": "0",
    "energy1_label": "Ecore000",
    "energy2_input": "0",
    "energy2_label": "Ecore001",
    "energy3_input": "0",
    "energy3_label": "Esocket0",
}


def test_amd_energy_counts_sockets_only(tmp_path: Path) -> None:
    root = make_hwmon(tmp_path, [("amd_energy", AMD_ENERGY), ("nvme", {"temp1_input": "40000"})])
    chips = find_chips(root)
    assert [c.name for c in chips] == ["amd_energy"]  # nvme has no power sensors
    chip = chips[0]
    assert [f.name for f in chip.energy_files] == ["energy3_input"]
    source = HwmonSource(chip)
    assert source.kind == "energy" and source.scope == "CPU (hwmon amd_energy)"
    clock = FakeClock()
    start = clock()
    sampler = Sampler([source], clock=clock)
    sampler.sample_once()
    for step in range(1, 26):
        clock.advance(0.2)
        uj = round(95.0 * step * 0.2 * 1e6)  # socket at 95 W
        (chip.path / "energy3_input").write_text(f"{uj}\n")
        (chip.path / "energy1_input").write_text(f"{uj // 2}\n")  # cores: ignored
        sampler.sample_once()
    reading = sampler.energy_between(start + 500_000_000, start + 4_500_000_000)
    assert reading.energy_j == pytest.approx(95.0 * 4.0, rel=0.01)


def test_power_meter_microwatts(tmp_path: Path) -> None:
    root = make_hwmon(
        tmp_path,
        [("power_meter", {"power1_average": "250000000", "power1_average_interval": "1000"})],
    )
    chip = find_chips(root)[0]
    source = HwmonSource(chip)
    assert source.kind == "power"
    assert source.scope == "wall (hwmon power_meter)"
    assert source.read() == pytest.approx(250.0)


def test_input_preferred_over_average_and_channels_summed(tmp_path: Path) -> None:
    root = make_hwmon(
        tmp_path,
        [
            (
                "zenpower",
                {
                    "power1_input": "40000000",
                    "power1_average": "1",
                    "power2_average": "15500000",
                },
            )
        ],
    )
    source = HwmonSource(find_chips(root)[0])
    assert source.read() == pytest.approx(55.5)
