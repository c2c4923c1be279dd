"""Host probe, measured bandwidth, estimates and every run's efficiency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tokbench


def test_hw_probe_json(tb_home: Path) -> None:
    r = tokbench("hw", "--json", "--channels", "4", "--mts", "2400")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["cores"] >= 1 and d["threads"] >= 1 and d["ram_total_bytes"] > 0
    assert set(d["isa"]) >= {"avx2", "avx512f", "amx_tile"}
    assert d["peak_bandwidth_gbs"] == pytest.approx(76.8)  # 4 x 2400 MT/s x 8 B
    assert isinstance(d["memory_modules"], list | str)  # a list, or why it is unknown


def test_bandwidth_is_measured_and_kept(tb_home: Path) -> None:
    from tokbench.bandwidth import measure

    bw = measure(working_set_bytes=64 * 2**20, reps=2)
    assert bw.one_thread_gbs > 0.5 and bw.all_cores_gbs > 0.5
    r = tokbench("hw", "--bandwidth", "--json")
    d = json.loads(r.stdout)
    assert d["measured_bandwidth"]["all_cores_gbs"] > 0.5
    assert json.loads((tb_home / "hw.json").read_text())["bandwidth_gbs"] > 0.5


@pytest.mark.slow
def test_estimate_and_run_efficiency(tb_home: Path, gemma_path: Path) -> None:
    r = tokbench("estimate", str(gemma_path), "--bandwidth", "20", "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["bound_weights_tps"] == pytest.approx(20e9 / 246_587_904, rel=1e-3)
    assert e["fits"] is True and e["efficiency_profile"] == "dense"
    none = tokbench("estimate", str(gemma_path))
    assert none.returncode == 2 and "tokbench hw --bandwidth" in none.stderr

    tb_home.mkdir(parents=True, exist_ok=True)
    (tb_home / "hw.json").write_text(json.dumps({"bandwidth_gbs": 20.0}))
    run = tokbench("run", "--max-tokens", "12", "--json", "--no-progress")
    doc = json.loads(run.stdout)
    assert doc["run"]["target"]["bound_tps"] == pytest.approx(20e9 / 246_587_904, rel=1e-3)
    decode = doc["summary"]["overall"]["decode_tps"]["mean"]
    assert doc["summary"]["efficiency"] == pytest.approx(decode / doc["run"]["target"]["bound_tps"])
    shown = tokbench("show", doc["run"]["id"])
    assert "efficiency:" in shown.stdout and "tok/s bound" in shown.stdout
