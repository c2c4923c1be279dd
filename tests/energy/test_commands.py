"""--power-cmd, --watts and a fake ipmitool on PATH: good output, garbage, hangs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.energy.fakes import write_script
from tokbench.energy.base import ConstantPower, PowerSourceError
from tokbench.energy.command import CommandSource, parse_watts
from tokbench.energy.ipmi import IpmiSource, parse_dcmi_power
from tokbench.energy.sampler import Sampler
from tokbench.energy.sources import detect_sources
from tokbench.errors import TokbenchError

# The lines ipmitool's ipmi_dcmi_pwr_rd() prints, with its printf widths.
IPMITOOL = r"""
printf '\n'
printf '    Instantaneous power reading:              %8d Watts\n' 477
printf '    Minimum during sampling period:           %8d Watts\n' 95
printf '    Maximum during sampling period:           %8d Watts\n' 512
printf '    Average power reading over sample period: %8d Watts\n' 470
printf '    IPMI timestamp:                           %s\n' 'Wed Dec  2 08:00:00 2026'
printf '    Sampling period:                          %08u Seconds.\n' 1
printf '    Power reading state is:                   activated\n\n'
"""


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")
    return d


@pytest.mark.parametrize(
    ("text", "watts"), [("87.5", 87.5), ("87.5 W\n", 87.5), ("120W", 120.0), ("3e2 watts", 300.0)]
)
def test_parse_watts_accepts(text: str, watts: float) -> None:
    assert parse_watts(text) == watts


@pytest.mark.parametrize("text", ["", "hello", "87.5 kW", "-5", "1 2", "power: 80"])
def test_parse_watts_rejects_with_reason(text: str) -> None:
    with pytest.raises(PowerSourceError, match="not a number of watts"):
        parse_watts(text)


def test_power_cmd_on_path_is_integrated(bin_dir: Path) -> None:
    write_script(bin_dir, "plug", "echo '87.5 W'\n")
    detection = detect_sources(power_cmd="plug")
    assert detection.label == "user command (plug)" and not detection.notes
    with Sampler(detection.sources, interval_s=0.05) as sampler:
        t0 = time.perf_counter_ns()
        time.sleep(0.4)
        t1 = time.perf_counter_ns()
        reading = sampler.energy_between(t0, t1)
    assert reading.energy_j == pytest.approx(87.5 * (t1 - t0) / 1e9, rel=1e-6)
    assert reading.peak_power_w == pytest.approx(87.5)


def test_power_cmd_printing_garbage_leaves_no_source(bin_dir: Path) -> None:
    write_script(bin_dir, "plug", "echo 'relay on, 80 percent'\n")
    detection = detect_sources(power_cmd="plug")
    assert detection.sources == ()
    assert detection.label == "no power source"
    assert "not a number of watts" in detection.notes[0]
    reading = Sampler(detection.sources).energy_between(0, 1_000_000_000)
    assert reading.energy_j is None and reading.note == "no power source"


def test_power_cmd_that_hangs_is_killed(bin_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    write_script(bin_dir, "plug", f"sleep 30 &\necho $! > {marker}\nwait\n")
    source = CommandSource("plug", timeout_s=0.3)
    start = time.monotonic()
    with pytest.raises(PowerSourceError, match=r"no answer within 0.3 s \(killed\)"):
        source.read()
    assert time.monotonic() - start < 3
    child = int(marker.read_text())
    time.sleep(0.1)
    # The grandchild died with its group: gone, or a zombie waiting for init to reap it.
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_power_cmd_failing_mid_run_is_dropped_and_sampling_goes_on(
    bin_dir: Path, tmp_path: Path
) -> None:
    count = tmp_path / "count"
    count.write_text("0")
    # Answers four times, then prints garbage forever.
    write_script(
        bin_dir,
        "plug",
        f"n=$(cat {count}); echo $((n+1)) > {count}\n"
        'if [ "$n" -lt 4 ]; then echo 100; else echo oops; fi\n',
    )
    sampler = Sampler([CommandSource("plug")], interval_s=0.05, max_failures=2)
    sampler.start()
    t_first = time.perf_counter_ns()
    time.sleep(0.5)
    sampler.stop()
    assert any("sampling continues without power-cmd" in n for n in sampler.notes)
    assert "'oops'" in sampler.notes[0]
    later = sampler.energy_between(time.perf_counter_ns() - 100_000_000, time.perf_counter_ns())
    assert later.energy_j is None and "dropped" in later.note
    early = sampler.energy_between(t_first, t_first + 20_000_000)
    assert early.energy_j is not None  # windows before the failure keep their energy


def test_fake_ipmitool_on_path(bin_dir: Path) -> None:
    write_script(bin_dir, "ipmitool", IPMITOOL)
    source = IpmiSource()
    assert source.read() == 477.0
    detection = detect_sources(
        powercap_root=bin_dir / "none", hwmon_root=bin_dir / "none", use_nvml=False
    )
    assert detection.label == "wall (IPMI)"


def test_ipmitool_without_bmc_is_a_note(bin_dir: Path) -> None:
    write_script(
        bin_dir,
        "ipmitool",
        "echo 'Could not open device at /dev/ipmi0 or /dev/ipmi/0 or /dev/ipmidev/0: "
        "No such file or directory' >&2\nexit 1\n",
    )
    detection = detect_sources(
        powercap_root=bin_dir / "none", hwmon_root=bin_dir / "none", use_nvml=False
    )
    assert detection.sources == ()
    assert any("IPMI: exited with status 1 (Could not open device" in n for n in detection.notes)


def test_dcmi_deactivated_zero_is_no_reading() -> None:
    text = (
        "    Instantaneous power reading:                     0 Watts\n"
        "    Power reading state is:                   deactivated\n"
    )
    with pytest.raises(PowerSourceError, match="deactivated"):
        parse_dcmi_power(text)
    with pytest.raises(PowerSourceError, match="no 'Instantaneous power reading'"):
        parse_dcmi_power("Invalid DCMI command\n")


def test_watts_constant_and_conflicts() -> None:
    detection = detect_sources(watts=477)
    assert detection.label == "constant 477 W (user-given)"
    assert isinstance(detection.sources[0], ConstantPower)
    with pytest.raises(TokbenchError, match="not both"):
        detect_sources(watts=100, power_cmd="plug")
    with pytest.raises(TokbenchError, match="positive"):
        detect_sources(watts=0)
