"""Hostile power commands and energy flags (issue 20, item 7): each case once broke a run
or lied in its figures. A power command leaves no process behind, whatever it starts; a
reading that is not a plausible number of watts is a failed sample with one sentence."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.core.config import EnergySettings
from tokbench.energy.base import ReadingKind
from tokbench.energy.command import CommandSource, run_with_timeout
from tokbench.energy.metrics import parse_lifetime
from tokbench.energy.sampler import Sampler
from tokbench.energy.session import checked
from tokbench.energy.sources import detect_sources
from tokbench.errors import TokbenchError

MARK = "tokbench-hostile"  # in the group file's name: one test's group, not another's


@pytest.fixture
def group_file(tmp_path: Path) -> Iterator[Path]:
    """Where a command writes its shell's pid, which is its process group's id; after the
    test, no process of that group may be alive."""
    path = tmp_path / f"{MARK}.pgid"
    yield path
    if path.exists():
        pgid = int(path.read_text().split()[0])
        alive = _alive(pgid)
        if alive:  # leave nothing behind even when the assertion below fails
            os.killpg(pgid, signal.SIGKILL)
        assert not alive, f"processes of group {pgid} survived the sample"


def _members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the group, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(stat.parent.name))
    return out


def _alive(pgid: int, wait_s: float = 2.0) -> bool:
    """Whether any process of the group still runs once SIGKILL had time to land."""
    deadline = time.monotonic() + wait_s
    while _members(pgid):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.01)
    return False


def _cmd(group_file: Path, body: str) -> str:
    return f"echo $$ > {group_file}; {body}"


def test_a_background_child_holding_stdout_is_killed_and_the_reading_kept(
    group_file: Path,
) -> None:
    # `sleep 301 & echo 50` left a sleep per sample (24 in one run); the shell is done,
    # the sleep still holds the pipe: the reading is what the shell printed
    src = CommandSource(_cmd(group_file, "sleep 301 & echo 50"), timeout_s=2.0)
    t0 = time.monotonic()
    assert src.read() == 50.0
    assert time.monotonic() - t0 < 1.5  # not waiting for the sleep's end of the pipe
    assert not _alive(int(group_file.read_text()))


def test_a_detached_background_child_is_killed_after_a_good_sample(group_file: Path) -> None:
    src = CommandSource(_cmd(group_file, "sleep 302 >/dev/null 2>&1 & echo 51"))
    assert [src.read() for _ in range(3)] == [51.0] * 3
    assert not _alive(int(group_file.read_text()))


def test_a_hanging_command_is_killed_at_its_deadline(group_file: Path) -> None:
    src = CommandSource(_cmd(group_file, "sleep 303 & sleep 304; echo 5"), timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(TokbenchError, match=r"no answer within 0\.3 s"):
        src.read()
    assert time.monotonic() - t0 < 2
    assert not _alive(int(group_file.read_text()))


def test_a_flood_of_output_is_bounded(group_file: Path) -> None:
    src = CommandSource(_cmd(group_file, "yes 50"), timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(TokbenchError, match="no answer within"):
        src.read()  # the pipe fills, the command blocks, the deadline kills it
    assert time.monotonic() - t0 < 3
    assert not _alive(int(group_file.read_text()))


@pytest.mark.parametrize(
    "body", [r"printf '\377\376\000\033[2J'", r"printf '50\377'", "head -c 200 /dev/urandom"]
)
def test_binary_output_is_one_sentence_not_a_traceback(body: str) -> None:
    with pytest.raises(TokbenchError, match="not a number of watts") as e:
        CommandSource(body).read()
    assert "\x1b" not in str(e.value) and "\x00" not in str(e.value)
    d = detect_sources(power_cmd=body)  # detection: a note, no source, no traceback
    assert d.sources == () and any("not a number of watts" in n for n in d.notes)


def test_binary_stderr_of_a_failing_command_is_shown_printable() -> None:
    with pytest.raises(TokbenchError, match="exited with status 3") as e:
        run_with_timeout(["/bin/sh", "-c", r"printf '\033]0;x\007\377' >&2; exit 3"], 2, "cmd")
    assert "\x1b" not in str(e.value) and "\x07" not in str(e.value)


@pytest.mark.parametrize("printed", ["1e308", "1e400", "100001", "1e5000 W", "-0.0001"])
def test_an_implausible_reading_is_refused(printed: str) -> None:
    with pytest.raises(TokbenchError, match=r"0 to 100 kW|not a number of watts"):
        CommandSource(f"echo {printed}").read()


class _Fixed:
    """A power source that reads whatever it is given: a broken meter."""

    name = "meter"
    scope = "wall (test meter)"
    kind: ReadingKind = "power"

    def __init__(self, value: float) -> None:
        self.value = value

    def read(self) -> float:
        return self.value

    def close(self) -> None:
        pass


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, -5.0])
def test_the_sampler_refuses_any_sources_implausible_reading(value: float) -> None:
    with Sampler([_Fixed(value)], interval_s=0.01, max_failures=3) as s:
        time.sleep(0.1)
        t = time.perf_counter_ns()
    assert s.energy_between(t - 50_000_000, t).energy_j is None  # never inf W or nan J
    assert any("sample refused" in n and "sampling continues without meter" in n for n in s.notes)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval_s": 1e-9}, "--power-interval must be 0.01 to 60 seconds"),
        ({"interval_s": 0.005}, "--power-interval must be 0.01 to 60 seconds"),
        ({"interval_s": float("nan")}, "--power-interval must be 0.01 to 60 seconds"),
        ({"idle_s": 1e9}, "--idle-s must be 0 (skip) to 600 seconds"),
        ({"idle_s": float("inf")}, "--idle-s must be 0 (skip) to 600 seconds"),
        ({"watts": 1e308}, "--watts must be at most 100000 W"),
        ({"box_price": 100.0, "lifetime": "3y@0.5"}, "the duty cycle is a percentage"),
    ],
)
def test_bad_energy_options_are_one_sentence(options: dict[str, object], message: str) -> None:
    with pytest.raises(TokbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        checked(EnergySettings(**options))  # type: ignore[arg-type]
    assert checked(EnergySettings(interval_s=0.01, idle_s=600))  # the bounds themselves pass


def test_a_duty_cycle_is_always_a_percentage() -> None:
    assert parse_lifetime("3y@1") == pytest.approx(parse_lifetime("3y") / 100)
    assert parse_lifetime("3y@50") == parse_lifetime("3y@50%") == parse_lifetime("3y") / 2
    assert parse_lifetime("3y@100") == parse_lifetime("3y")


def test_a_run_with_a_binary_printing_power_command_finishes(
    tmp_path: Path, group_file: Path, gemma_path: Path
) -> None:
    """Once marked `interrupted` after a UnicodeDecodeError traceback: now a note, the run
    done, and no process of the command left."""
    db = tmp_path / "r.sqlite"
    cmd = _cmd(group_file, r"sleep 305 >/dev/null 2>&1 & printf '\377\376'")
    r = tokbench(
        "run", "--suite", "seed5-en", "--max-tokens", "4", "--power-cmd", cmd,
        "--power-interval", "0.05", "--db", str(db), "--json", "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    err = " ".join(r.stderr.split())  # the console wraps long notes
    assert "Traceback" not in err and "not a number of watts" in err
    assert '"status": "done"' in r.stdout
    assert not _alive(int(group_file.read_text()))
    assert sys.platform.startswith("linux")
