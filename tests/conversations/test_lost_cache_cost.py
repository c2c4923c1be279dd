"""`converse --lost-cache-cost`: cold and warm turns at each history length, on the
embedded engine (bundled Gemma); the counts say the warm turn was served from the cache
and the cold one was not (timings are only checked to be there, never their size)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.conversations.lostcost import parse_lengths
from tokbench.errors import TokbenchError


def test_history_lengths_parse_with_k_suffixes() -> None:
    assert parse_lengths("4k, 8k,16k") == (4096, 8192, 16384)
    assert parse_lengths("512,512,256") == (512, 256)
    for bad in ("", "0", "4m", "-1", "2000k"):
        with pytest.raises(TokbenchError, match="is not a history length"):
            parse_lengths(bad)


def test_lost_cache_cost_on_the_embedded_engine(gemma_path: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    r = tokbench("converse", "--model-path", str(gemma_path), "--lost-cache-cost", "128,256",
                 "--lost-cache-reps", "2", "--max-tokens", "1", "--user-tokens", "4",
                 "--db", db, "--no-progress", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    points = doc["lost_cache_cost"]
    assert [p["history_tokens"] for p in points] == [128, 256]
    for p in points:
        assert p["reps"] == 2
        # the history is about the length asked (a word is about a token)
        assert p["history_tokens"] <= p["context_tokens"] <= 1.5 * p["history_tokens"]
        # cold: only the chat template's opening can be reused; warm: the whole history
        assert p["cold_cached_tokens"] < 16
        assert p["warm_cached_tokens"] >= p["history_tokens"]
        assert p["ttft_cost_ms"]["n"] == 2 and p["prefill_cost_ms"]["n"] == 2
        assert p["sentence"].startswith("losing the cache at ")
    # the table says the same; the run is stored and shown again by `show`
    again = tokbench("show", doc["run_id"], "--db", db, "--format", "md")
    assert again.returncode == 0, again.stderr
    assert "the cost of a lost prompt cache" in again.stdout
    assert "losing the cache at 256 of history costs" in again.stdout
    html = tmp_path / "report.html"
    assert tokbench("report", doc["run_id"], "-o", str(html), "--db", db).returncode == 0
    chart = html.read_text("utf-8").split(f'id="chart-turns-{doc["run_id"]}"')[1]
    assert "The cost of a lost prompt cache" in chart.split("</div>")[0]


def test_lost_cache_cost_needs_the_cache_on(tmp_path: Path) -> None:
    r = tokbench("converse", "--lost-cache-cost", "4k", "--no-cache", "--db",
                 str(tmp_path / "runs.db"))  # fmt: skip
    assert r.returncode != 0
    assert "drop --no-cache" in r.stderr and "Traceback" not in r.stderr
