"""A run without a power source gets one line saying how to add one, never a table of
dashes; with a source, the energy table and its totals."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tokbench.core.energy import HostWindow, RequestEnergy
from tokbench.core.records import RunInfo
from tokbench.energy.metrics import CostInputs, run_energy
from tokbench.render.energy import run_lines, shows_energy
from tokbench.render.terminal import energy_table

QUIET = HostWindow(1.0, 2, 0.1, 1.0, None, None, 0, 0, 0, 0, False, "")
BUSY = HostWindow(1.0, 2, 1.5, 1.0, None, None, 0, 0, 0, 0, True, "other processes used 1.5")


def _run(energy: object) -> RunInfo:
    return RunInfo("20261206-000000-aaaaaa", "t", "done", "run", "0", "embedded", None, "m",
                   "seed5", "h", energy=energy)  # type: ignore[arg-type]  # fmt: skip


def test_no_power_source_is_one_line_with_the_remedy() -> None:
    e = run_energy(
        [], baseline_w=None, power_source="no power source",
        costs=CostInputs(box_price=2000, lifetime_hours=20000), host_windows=[QUIET, BUSY],
    )  # fmt: skip
    assert not shows_energy(e)
    (line,) = run_lines(e)
    assert "--watts N" in line and "--power-cmd CMD" in line
    assert "⚠ busy host during 1 of 2 requests" in line
    shown = energy_table(_run(e), [])
    assert isinstance(shown, Text) and shown.plain == line


def test_a_power_source_gets_the_table() -> None:
    r = RequestEnergy(5.0, 1.0, 4.0, None, 0.5, 0.4, 0.1, 7.2e5, 50.0, 60.0, 0.1, 10, False,
                      False)  # fmt: skip
    e = run_energy([r], baseline_w=None, power_source="constant 50 W (user-given)")
    assert shows_energy(e)
    table = energy_table(_run(e), [])
    assert isinstance(table, Table)
    out = Console(width=200, record=True)
    out.print(table)
    text = out.export_text()
    assert "J/token" in text and "constant 50 W" in text
