"""Energy, cost and the host monitor in real runs: the embedded engine with `--watts` and
with `--power-cmd`, a run while CPU hogs compete, `bench`, `plan`, and the session's
wiring on fake /proc trees (a quiet host cannot be had on a shared box, so its case is
made exact on a fake tree; the busy case runs on the real one)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tests.energy.fakes import write_script
from tests.energy.test_monitor import FakeProc
from tokbench.core.config import EnergySettings
from tokbench.core.energy import HostWindow, RequestEnergy, RunEnergy
from tokbench.core.records import BenchSample, RequestRecord
from tokbench.energy.monitor import listening_pids
from tokbench.energy.session import EnergySession, checked
from tokbench.energy.sources import Detection, detect_sources
from tokbench.errors import TokbenchError
from tokbench.render.energy import run_lines
from tokbench.store.database import Store

RUN = ("run", "--suite", "seed5-en", "--max-tokens", "8", "-t", "1", "--no-progress")


def _json(*args: str) -> object:
    r = tokbench(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _run(db: Path, *flags: str) -> tuple[str, str]:
    r = tokbench(*RUN, *flags, "--json", "--db", str(db))
    assert r.returncode == 0, r.stderr
    return str(json.loads(r.stdout)["run"]["id"]), r.stderr


def test_watts_and_power_cmd_runs_show_energy_everywhere(gemma_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "e.sqlite"
    costs = ("--kwh-price", "0.3", "--box-price", "2000", "--lifetime", "3y@50%")
    watts_id, err = _run(db, "--watts", "50", "--idle-s", "0.5", *costs, "--currency", "EUR")
    assert "energy: constant 50 W (user-given)" in err and "idle 50.0 W" in err
    meter = write_script(tmp_path / "bin", "meter", "echo '42.5 W'\n")
    cmd_id, err = _run(db, "--power-cmd", str(meter), "--idle-s", "0", "--kwh-price", "0.3")
    assert "energy: user command" in err

    # show --json: the run's totals and every request's energy and host window
    doc = _json("show", watts_id, "--json", "--db", str(db))
    assert isinstance(doc, dict)
    e = RunEnergy.from_json(doc["run"]["energy"])
    assert e.power_source == "constant 50 W (user-given)" and e.has_power
    assert e.measured == e.requests == 5 and e.baseline_w == pytest.approx(50.0)
    assert e.avg_power_w == pytest.approx(50.0)
    assert e.energy_j and e.j_per_token
    assert e.j_per_token == pytest.approx(e.energy_j / e.output_tokens)
    assert e.tokens_per_kwh == pytest.approx(3.6e6 / e.j_per_token)
    assert e.electricity_per_mtok == pytest.approx(e.j_per_token * 1e6 / 3.6e6 * 0.3)
    assert e.hardware_per_mtok and e.currency == "EUR" and e.host_monitored == 5
    for req in doc["requests"]:
        re = RequestEnergy.from_json(req["energy"])
        assert re.energy_j is not None
        assert re.energy_j == pytest.approx(50.0 * re.duration_s, rel=1e-6)
        assert re.prefill_j is not None and re.decode_j is not None
        assert re.prefill_j + re.decode_j == pytest.approx(re.energy_j)
        assert req["busy"] == HostWindow.from_json(req["host"]).busy
    cmd = _json("show", cmd_id, "--json", "--db", str(db))
    assert isinstance(cmd, dict)
    ce = RunEnergy.from_json(cmd["run"]["energy"])
    assert ce.power_source.startswith("user command") and ce.baseline_w is None
    assert ce.avg_power_w == pytest.approx(42.5)

    # the table, history, compare, export and the report
    table = tokbench("show", watts_id, "--db", str(db)).stdout
    assert "Energy: constant 50 W" in table and "J/token" in table
    assert "cost per million output tokens: electricity" in table
    hist = _json("history", "--json", "--db", str(db))
    assert isinstance(hist, list)
    by_id = {h["id"]: h for h in hist}
    assert by_id[cmd_id]["energy"]["avg_power_w"] == pytest.approx(42.5)
    rows = _json("compare", watts_id, cmd_id, "--json", "--db", str(db))
    assert isinstance(rows, list)
    assert [r["power_source"] for r in rows] == [e.power_source, ce.power_source]
    assert rows[0]["j_per_token"] == pytest.approx(e.j_per_token)
    md = tokbench("compare", watts_id, cmd_id, "--format", "md", "--db", str(db)).stdout
    assert "J/token" in md and "tok/kWh" in md and "cost/Mtok" in md
    out = tokbench("export", "--db", str(db)).stdout
    exported = list(csv.DictReader(io.StringIO(out)))
    assert len(exported) == 10
    for col in ("power_source", "energy_j", "j_per_token", "busy", "other_cpu_cores"):
        assert all(row[col] != "" for row in exported), col
    report = tmp_path / "r.html"
    r = tokbench("report", watts_id, cmd_id, "-o", str(report), "--db", str(db))
    assert r.returncode == 0, r.stderr
    html = report.read_text()
    assert 'id="chart-energy"' in html and "J per output token" in html
    assert "constant 50 W (user-given)" in html


@pytest.fixture
def hogs() -> Iterator[None]:
    """One busy loop per core: other work well beyond a quarter of the cores."""
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    time.sleep(0.3)
    yield
    for p in procs:
        p.kill()
        p.wait()


def test_a_run_while_cpu_hogs_compete_is_flagged_busy(
    gemma_path: Path, tmp_path: Path, hogs: None
) -> None:
    db = tmp_path / "busy.sqlite"
    run_id, err = _run(db)  # no energy flags at all: the host monitor still runs
    assert "energy: no power source" in err
    doc = _json("show", run_id, "--json", "--db", str(db))
    assert isinstance(doc, dict)
    e = RunEnergy.from_json(doc["run"]["energy"])
    assert e.power_source == "no power source" and e.energy_j is None and e.j_per_token is None
    assert e.host_monitored == 5 and e.busy_requests >= 4, e
    busy = [HostWindow.from_json(r["host"]) for r in doc["requests"] if r["busy"]]
    assert all("other processes used" in w.busy_reason for w in busy)
    table = tokbench("show", run_id, "--db", str(db)).stdout
    assert "⚠ busy host" in table and "no power source" in table
    hist = tokbench("history", "--db", str(db)).stdout
    assert "⚠ busy host" in hist


def _session(fake: FakeProc, **kw: object) -> EnergySession:
    """A session on a fake /proc with a constant power source (no hardware needed)."""

    def detect(**_: object) -> Detection:
        return detect_sources(watts=20)

    s = EnergySession(
        EnergySettings(idle_s=0, interval_s=0.05, **kw),  # type: ignore[arg-type]
        detect=detect,
        proc_root=fake.proc,
    )
    s.start()
    assert s.sampler is not None and s.sampler.host is not None
    s.sampler.host.ticks_per_s = 100
    return s


def _request(s: EnergySession, fake: FakeProc, other_ticks: int) -> tuple[int, None, int]:
    """A 0.3 s 'request' during which tokbench uses one core and others `other_ticks`."""
    t0 = time.perf_counter_ns()
    time.sleep(0.3)
    fake.own += 30
    fake.busy += 30 + other_ticks
    fake.write()
    time.sleep(0.1)  # the sampler's next snapshot closes the window
    return t0, None, time.perf_counter_ns() - 50_000_000


def test_a_quiet_host_is_not_flagged_and_a_busy_one_is(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, n_cpus=4)
    s = _session(fake)
    try:
        quiet = s.measure(*_request(s, fake, other_ticks=5), 10, 8)  # 0.125 of 4 cores
        busy = s.measure(*_request(s, fake, other_ticks=150), 10, 8)  # 3.75 of 4 cores
    finally:
        s.stop()
    assert quiet is not None and quiet.host is not None and busy is not None
    assert not quiet.host.busy and quiet.host.busy_reason == ""
    assert busy.host is not None and busy.host.busy
    assert "other processes used" in busy.host.busy_reason
    assert quiet.energy.avg_power_w == pytest.approx(20.0)
    totals = s.totals([quiet.energy], [quiet.host])
    assert totals.busy_requests == 0 and "host quiet during all 1 requests" in run_lines(totals)
    totals = s.totals([quiet.energy, busy.energy], [quiet.host, busy.host])
    assert totals.busy_requests == 1 and "⚠ busy host during 1 of 2 requests" in run_lines(totals)


def test_a_broken_power_cmd_leaves_the_run_without_energy(tmp_path: Path) -> None:
    bad = write_script(tmp_path / "bin", "bad", "echo banana\n")
    notes: list[str] = []
    s = EnergySession(
        EnergySettings(power_cmd=str(bad), idle_s=0), notify=notes.append, proc_root=Path("/proc")
    )
    s.start()
    try:
        t0 = time.perf_counter_ns()
        m = s.measure(t0, None, t0 + 1000, None, 1)
    finally:
        s.stop()
    assert m is not None and m.energy.energy_j is None
    assert any("'banana', not a number of watts" in n for n in notes), notes
    assert s.totals([m.energy], [m.host]).power_source == "no power source"


def test_a_local_servers_process_is_found_by_its_port() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        assert os.getpid() in listening_pids(port)
    assert listening_pids(port) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--watts", "-5"), "--watts must be a positive number of watts"),
        (("--watts", "nan"), "--watts must be a positive number of watts"),
        (("--power-interval", "0"), "--power-interval must be 0.01 to 60 seconds"),
        (("--idle-s", "-1"), "--idle-s must be 0 (skip) to 600 seconds"),
        (("--kwh-price", "inf"), "--kwh-price must be a positive number"),
        (("--box-price", "2000"), "--box-price and --lifetime go together"),
        (("--box-price", "2000", "--lifetime", "3x"), "--lifetime '3x': give hours"),
        (("--watts", "5", "--power-cmd", "echo 1"), "give --watts or --power-cmd, not both"),
    ],
)
def test_bad_energy_flags_fail_in_one_sentence(
    flags: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    r = tokbench(*RUN, *flags, "--db", str(tmp_path / "x.sqlite"))
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_bench_with_watts_has_energy_per_test(gemma_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite"
    r = tokbench(
        "bench", "-p", "16", "-n", "8", "-r", "2", "--warmup", "0", "-t", "1", "--watts", "30",
        "--idle-s", "0", "--json", "--no-progress", "--db", str(db),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    e = RunEnergy.from_json(doc["run"]["energy"])
    assert e.power_source == "constant 30 W (user-given)" and e.measured == 4
    for test in doc["tests"]:
        assert test["energy_n"] == 2 and test["host_monitored"] == 2
        assert test["avg_power_w"] == pytest.approx(30.0)
        assert test["j_per_token"] > 0
    samples = Store(db).bench_samples(doc["run"]["id"])
    assert all(s.energy is not None and s.host is not None for s in samples)
    table = tokbench("show", doc["run"]["id"], "--db", str(db)).stdout
    assert "J/token" in table and "constant 30 W" in table
    out = tokbench("export", "--bench", "--db", str(db)).stdout
    assert "j_per_token" in out.splitlines()[0]


def test_plan_has_electricity_per_million_tokens_per_preset() -> None:
    rows = _json("plan", "--kwh-price", "1.2", "--format", "json")
    assert isinstance(rows, list) and rows
    for row in rows:
        p = row["power"]
        assert p["kwh_price"] == 1.2 and p["source"]
        lo, hi = p["electricity_per_mtok_low"], p["electricity_per_mtok_high"]
        assert 0 < lo <= hi
        # typical watts / tok/s = J per token; a million of them at 1.2 per kWh
        assert lo == pytest.approx(p["typical_w"] / row["high_tps"] * 1e6 / 3.6e6 * 1.2)
    boxes = {row["box"] for row in rows}
    assert {"seed-4ch", "ddr5-12ch"} <= boxes
    table = tokbench("plan", "--kwh-price", "1.2", "--quant", "UD-IQ2_XXS").stdout
    assert "electricity / Mtok" in table and "~" in table  # estimates are marked
    bad = tokbench("plan", "--kwh-price", "-1")
    assert bad.returncode != 0 and "--kwh-price must be a positive" in bad.stderr


def test_records_round_trip_through_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    energy = RequestEnergy(
        12.0, 2.0, 10.0, 4.0, 1.5, 1.4, 0.1, 2.4e6, 30.0, 31.0, 0.4, 8, False, True, "n"
    )
    host = HostWindow(0.4, 2, 1.5, 0.5, 2400.0, 2300.0, 0, 0, 3, 1, True, "other processes")
    rec = RequestRecord("r", "q", 0, "t", "ok", None, "p", "a", "", None, energy=energy, host=host)
    sample = BenchSample(
        "r", "m", "tg8", 1, 0, 0, "t", 0.1, "ok", None, 9.0, None, 8, 5.0, 0.9,
        energy=energy, host=host,
    )  # fmt: skip
    from tokbench.core.records import RunInfo

    run = RunInfo("r", "t", "done", "run", "0", "embedded", None, "m", "s", "h")
    assert store.add_run(run, [rec], [sample])
    assert store.requests("r") == [rec] and store.requests("r")[0].busy is True
    assert store.bench_samples("r") == [sample]
    totals = RunEnergy.from_json({"requests": 1, "power_source": "x", "later_key": 1})
    store.update_run("r", energy=totals)
    assert store.run("r").energy == totals and totals.measured is None
    with pytest.raises(TokbenchError, match="--lifetime"):
        checked(EnergySettings(box_price=1, lifetime="0h"))
