"""tokbench's llama-bench-shaped exports read back with the same numbers, and carry what
llama.cpp's scripts/compare-llama-bench.py requires."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tokbench.errors import TokbenchError
from tokbench.interop.detect import parse_text
from tokbench.interop.export_llama_bench import (
    COMPARE_REQUIRED,
    BenchRow,
    render_json,
    render_jsonl,
    render_markdown,
)

ROWS = (
    BenchRow(
        model="gemma3 270M Q4_K - Medium",
        test="pp512",
        mean_tps=1234.5678901,
        sd_tps=12.3456789,
        n=3,
        samples_tps=(1220.1, 1236.987654321, 1246.6137),
        model_filename="gemma-3-270m-q4_k_m.gguf",
        model_size_bytes=253_100_032,
        model_params=268_098_176,
        threads=4,
        cpu_info="Test CPU",
        build_commit="deadbeef",
        build_number=7311,
        test_time="2026-12-02T08:00:00Z",
        settings=(("n_batch", 512), ("flash_attn", 0)),
    ),
    BenchRow(
        model="gemma3 270M Q4_K - Medium",
        test="tg128 @ d4096",
        mean_tps=88.125,
        sd_tps=0.0625,
        n=5,
        threads=4,
        build_commit="deadbeef",
        build_number=7311,
    ),
    BenchRow(
        model="gemma3 270M Q4_K - Medium",
        test="pp64+tg16",
        mean_tps=300.0,
        sd_tps=1.5,
        n=2,
        samples_tps=(298.5, 301.5),
        threads=4,
        build_commit="deadbeef",
        build_number=7311,
    ),
)


@pytest.mark.parametrize("render", [render_json, render_jsonl])
def test_json_round_trip_is_exact(render: object) -> None:
    assert callable(render)
    text = render(ROWS)
    run = parse_text(text)
    assert run.format == ("llama-bench-json" if render is render_json else "llama-bench-jsonl")
    assert run.notes == ()
    for row, test in zip(ROWS, run.tests, strict=True):
        assert test.name == row.test
        assert (test.mean_tps, test.sd_tps, test.n) == (row.mean_tps, row.sd_tps, row.n)
        assert test.samples_tps == row.samples_tps
    assert run.model == "gemma3 270M Q4_K - Medium"
    assert run.model_quant == "Q4_K - Medium"
    assert (run.build_commit, run.build_number, run.threads) == ("deadbeef", 7311, 4)
    params = dict(run.tests[0].params)
    assert params["n_batch"] == "512"
    # settings tokbench did not know were written as stand-ins and read back as unknown
    assert "type_k" not in params and "n_gpu_layers" not in params
    assert run.n_gpu_layers is None


def test_markdown_round_trip_to_two_decimals() -> None:
    md = render_markdown(ROWS)
    header = md.splitlines()[0]
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "model",
        "size",
        "params",
        "backend",
        "threads",
        "test",
        "t/s",
        "n",
    ]
    assert "| 241.38 MiB | 268.10 M |" in md
    assert md.rstrip().endswith("build: deadbeef (7311)")
    run = parse_text(md)
    assert run.format == "llama-bench-md"
    for row, test in zip(ROWS, run.tests, strict=True):
        assert test.name == row.test
        assert test.mean_tps == round(row.mean_tps, 2)
        assert test.sd_tps == round(row.sd_tps, 2)
        assert test.n == row.n


def test_json_has_what_compare_llama_bench_requires() -> None:
    records = json.loads(render_json(ROWS))
    for rec in records:
        missing = [k for k in COMPARE_REQUIRED if k not in rec]
        assert missing == []
        assert all(rec[k] is not None for k in COMPARE_REQUIRED)
        # the script int()s n_gpu_layers; unknown settings get typed stand-ins, listed
        assert isinstance(rec["n_gpu_layers"], int)
        assert "n_gpu_layers" in rec["tokbench_unknown"]
        assert "n_threads" not in rec["tokbench_unknown"]
    # The compare script loads records into SQLite and joins two builds on equal key
    # properties; rows exported twice under two build names must join row for row.
    con = sqlite3.connect(":memory:")
    cols = list(COMPARE_REQUIRED)
    con.execute(f"CREATE TABLE llama_bench({', '.join(cols)})")
    for build in ("aaaa", "bbbb"):
        for rec in records:
            values = [build if c == "build_commit" else rec[c] for c in cols]
            con.execute(f"INSERT INTO llama_bench VALUES ({', '.join('?' * len(cols))})", values)
    keys = [c for c in cols if c not in ("build_commit", "test_time", "avg_ts")]
    joined = con.execute(
        "SELECT COUNT(*) FROM llama_bench tb JOIN llama_bench tc ON "
        + " AND ".join(f"tb.{k} = tc.{k}" for k in keys)
        + " AND tb.build_commit = 'aaaa' AND tc.build_commit = 'bbbb'"
    ).fetchone()[0]
    assert joined == len(ROWS)


def test_samples_give_llama_bench_nanoseconds() -> None:
    rec = json.loads(render_json(ROWS[2:]))[0]
    # 80 tokens at 298.5 and 301.5 t/s
    assert rec["samples_ns"] == [round(80e9 / 298.5), round(80e9 / 301.5)]
    assert rec["n_prompt"] == 64 and rec["n_gen"] == 16 and rec["n_depth"] == 0


def test_non_llama_bench_test_names_are_refused() -> None:
    row = BenchRow(model="m", test="decode", mean_tps=1.0, sd_tps=0.0, n=1)
    with pytest.raises(TokbenchError, match="not a llama-bench test name"):
        render_json([row])
    with pytest.raises(TokbenchError, match="no bench results"):
        render_markdown([])
