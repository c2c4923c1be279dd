"""This box's own η comes from its stored benches: generation rows with a bound, of a model
whose file says dense or MoE, on this host only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokbench.core.records import BenchSample, RunInfo, Target
from tokbench.results.efficiency import own_efficiency
from tokbench.store.database import Store

BOUND_TPS = 100.0


def _bench(store: Store, run_id: str, host: str, target: Target, rows: dict[str, list[float]]):
    store.create_run(
        RunInfo(run_id, "2026-12-06T12:00:00Z", "done", "bench", "0", "embedded", None, "m",
                None, host, targets={"m": target})
    )  # fmt: skip
    for test, speeds in rows.items():
        for rep, tps in enumerate(speeds):
            store.add_bench_sample(
                BenchSample(run_id, "m", test, 1, rep, 0, "t", float(rep), "ok", None, tps,
                            None, 128, None, 1.0)
            )  # fmt: skip


def test_own_efficiency_from_benches_of_this_host(tmp_path: Path, gemma_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    target = Target(gguf_path=str(gemma_path), bytes_per_token=246_587_904, bound_tps=BOUND_TPS)
    _bench(store, "20261206-120000-aaaaaa", "here", target,
           {"tg128": [70.0, 72.0, 71.0], "pp512": [900.0, 950.0]})  # fmt: skip
    _bench(store, "20261206-120000-bbbbbb", "elsewhere", target, {"tg128": [10.0, 11.0]})
    gone = Target(gguf_path=str(tmp_path / "deleted.gguf"), bytes_per_token=1, bound_tps=1.0)
    _bench(store, "20261206-120000-cccccc", "here", gone, {"tg128": [5.0, 6.0]})
    (own,) = own_efficiency(store, "here")
    assert own.kind == "dense" and own.tests == 1 and own.bytes_per_token == 246_587_904
    # the 95 % interval of 70, 71, 72 tok/s against a bound of 100: about 0.68-0.74
    assert 0.66 < own.low < 0.70 and 0.72 < own.high < 0.76
    assert "20261206-120000-aaaaaa tg128" in own.source
    assert own_efficiency(store, "nowhere") == ()


def test_a_run_without_a_bound_gives_nothing(tmp_path: Path, gemma_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    _bench(store, "20261206-120000-aaaaaa", "here", Target(gguf_path=str(gemma_path)),
           {"tg128": [70.0, 72.0]})  # fmt: skip
    assert own_efficiency(store, "here") == ()


@pytest.mark.slow
def test_estimate_uses_your_bench(tb_home: Path, gemma_path: Path) -> None:
    """A real bench on this host, then `estimate` of the same model: η measured here."""
    import json

    from tests.conftest import tokbench

    tb_home.mkdir(parents=True, exist_ok=True)
    (tb_home / "hw.json").write_text(json.dumps({"bandwidth_gbs": 20.0}))
    b = tokbench("bench", "-p", "0", "-n", "16", "-r", "2", "--json", "--no-progress")
    assert b.returncode == 0, b.stderr[-2000:]
    e = json.loads(tokbench("estimate", str(gemma_path), "--json").stdout)
    assert e["calibration"] == "measured" and e["anchors"] == []
    assert "tg16" in e["calibration_reason"]
    given = json.loads(tokbench("estimate", str(gemma_path), "--bandwidth", "20", "--json").stdout)
    assert given["calibration"] != "measured"  # another box: the published prior
