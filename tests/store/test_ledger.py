"""The run ledger: create or resume, targets, measurements, finish, in a real SQLite store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tokbench.core.config import BenchConfig
from tokbench.core.records import BenchSample, BenchSettings, SpeedBound, Target
from tokbench.errors import TokbenchError
from tokbench.store.database import Store
from tokbench.store.ledger import RunLedger, resumable


def _sample(run_id: str, rep: int) -> BenchSample:
    return BenchSample(run_id, "m", "tg16", 1, rep, 0, "t", 0.0, "ok", None, 10.0 + rep,
                       None, 16, None, None)  # fmt: skip


def test_open_measure_finish_and_resume(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    ledger = RunLedger.open(store, "bench", BenchSettings(BenchConfig()), backend="embedded")
    run = ledger.run
    assert (run.status, run.kind, run.finished_at) == ("running", "bench", None)
    assert run.host.hostname  # this machine, when no host is given
    bound = SpeedBound(bandwidth_gbs=20.0, bytes_per_token=10**8, bound_tps=200.0)
    ledger.set_target("m", Target(backend_kind="embedded").with_bound(bound),
                      model_from_targets=True)  # fmt: skip
    ledger.set_target("n", Target(backend_kind="embedded"), model_from_targets=True)
    ledger.add_sample(_sample(run.id, 0))
    time.sleep(0.01)
    done = ledger.finish("interrupted")
    assert done.status == "interrupted" and done.model == "m, n"
    assert done.finished_at is not None and done.finished_at > done.created_at
    assert done.targets["m"].bound == bound and done.targets["n"].bound is None

    again = RunLedger.open(store, "bench", BenchSettings(BenchConfig(reps=9)),
                           backend="embedded", resume=run.id[:12])  # fmt: skip
    assert again.run_id == run.id and again.run.status == "running"
    assert again.run.finished_at is None and set(again.targets) == {"m", "n"}
    assert isinstance(again.run.config, BenchSettings)
    assert again.run.config.bench.reps == BenchConfig().reps  # a resumed run keeps its own
    assert [s.rep for s in again.samples()] == [0]
    assert again.finish("done").status == "done"
    assert len(store.runs()) == 1


def test_resumable_refuses_another_kind(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    run = RunLedger.open(store, "bench", BenchSettings(BenchConfig()), backend="x").run
    assert resumable(store, run.id, ("bench",), "tokbench bench").id == run.id
    with pytest.raises(TokbenchError, match="bench run, which tokbench run cannot resume"):
        resumable(store, run.id, ("run",), "tokbench run")
