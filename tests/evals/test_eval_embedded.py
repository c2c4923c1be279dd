"""`tokbench eval` on the embedded engine (the bundled Gemma 3 270M, a base model: its
accuracy is near nothing, the pipeline is what is tested): a 5-item subset, and a time box
that ends within 10 % of its length with an estimate."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.core.config import RunConfig, Sampling
from tokbench.core.records import EvalPlan
from tokbench.runs.eval import run_eval
from tokbench.store.database import Store

pytestmark = pytest.mark.slow


def test_five_items_on_gemma() -> None:
    r = tokbench(
        "eval", "gsm8k", "--limit", "5", "--max-tokens", "12", "--temperature", "0",
        "--json", "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    (b,) = doc["benchmarks"]
    assert (b["graded"], b["planned"], b["population"]) == (5, 5, 1319)
    assert 0 <= b["accuracy"] <= 1 and b["ci95_low"] <= b["accuracy"] <= b["ci95_high"]
    assert b["decode_tps_median"] > 0
    assert doc["run"]["backend"] == "embedded"


def test_time_box_on_gemma_ends_within_ten_percent(tmp_path: Path) -> None:
    box_s = 45.0  # a few items even on a loaded 2-core box (about 1 tok/s there)
    store = Store(str(tmp_path / "t.db"))
    t0 = time.monotonic()
    result = run_eval(
        # 300 items (GSM8K and MMLU, asked in turn) of 24 tokens outlast the box even on a
        # quiet box: GSM8K's 100 alone, ending early at end-of-text, could finish in ~45 s
        RunConfig(max_tokens=24, sampling=Sampling(temperature=0.0)),
        EvalPlan(benchmarks=("gsm8k", "mmlu"), max_time_s=box_s),
        store,
        tmp_path / "runs",
    )
    took = time.monotonic() - t0
    assert took <= 1.1 * box_s, took
    b = {r.benchmark: r for r in result.results}["gsm8k"]
    assert "time box" in result.stopped_by
    assert b.estimate.graded >= 1 and b.estimate.accuracy is not None
    assert b.estimate.graded + b.cut < 100
