"""GuideLLM reports in the shapes its src/guidellm/benchmark/ schemas write: the current v2
(0.7+), v1 (0.5-0.6), the legacy 0.3 report, and a newer version this reader does not know."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tokbench.errors import TokbenchError
from tokbench.interop.detect import parse_file, parse_text
from tokbench.interop.guidellm import parse


def dist(mean: float, sd: float = 1.0, count: int = 10) -> dict[str, Any]:
    """A DistributionSummary as GuideLLM dumps it."""
    return {
        "mean": mean,
        "median": mean * 0.98,
        "mode": mean,
        "variance": sd * sd,
        "std_dev": sd,
        "min": mean * 0.5,
        "max": mean * 1.5,
        "count": count,
        "total_sum": mean * count,
        "percentiles": {
            "p001": mean * 0.51,
            "p01": mean * 0.6,
            "p05": mean * 0.7,
            "p10": mean * 0.8,
            "p25": mean * 0.9,
            "p50": mean * 0.98,
            "p75": mean * 1.1,
            "p90": mean * 1.2,
            "p95": mean * 1.3,
            "p99": mean * 1.4,
            "p999": mean * 1.49,
        },
        "pdf": None,
    }


def status(mean: float, sd: float = 1.0) -> dict[str, Any]:
    """A StatusDistributionSummary: successful, errored, incomplete, total."""
    return {
        "successful": dist(mean, sd),
        "errored": dist(mean * 2, sd, 1),
        "incomplete": dist(0.0, 0.0, 0),
        "total": dist(mean, sd, 11),
    }


def metrics(out_tps: float, ttft_ms: float, legacy: bool = False) -> dict[str, Any]:
    m: dict[str, Any] = {
        "requests_per_second": status(1.5, 0.1),
        "request_concurrency": status(3.0, 0.5),
        "request_latency": status(2.25, 0.2),
        "prompt_token_count": status(256.0, 0.0),
        "output_token_count": status(128.0, 0.0),
        "time_to_first_token_ms": status(ttft_ms, 5.0),
        "time_per_output_token_ms": status(15.5, 1.0),
        "inter_token_latency_ms": status(15.25, 2.0),
        "output_tokens_per_second": status(out_tps, 10.0),
        "tokens_per_second": status(out_tps * 3, 20.0),
    }
    if not legacy:
        m["request_totals"] = {"successful": 10, "errored": 1, "incomplete": 0, "total": 11}
        m["time_to_first_output_token_ms"] = status(ttft_ms + 1, 5.0)
    return m


def bench_v2(strategy: dict[str, Any], out_tps: float, ttft_ms: float) -> dict[str, Any]:
    return {
        "type_": "generative_benchmark",
        "config": {
            "id_": "b1",
            "run_id": "r1",
            "run_index": 0,
            "strategy": strategy,
            "constraints": {},
            "sample_size": None,
            "profile": {"type_": "sweep"},
            "requests": {},
            "backend": {
                "kind": "openai_http",
                "target": "http://127.0.0.1:8000",
                "model": "Qwen/Qwen3-0.6B",
            },
            "environment": {},
        },
        "scheduler_state": {},
        "scheduler_metrics": {"measure_start_time": 1767225600.0},
        "metrics": metrics(out_tps, ttft_ms),
        "requests": {
            "successful": [{"request_id": str(i)} for i in range(3)],
            "errored": [],
            "incomplete": [],
            "total": None,
        },
        "start_time": 1767225600.0,
        "end_time": 1767225630.0,
        "duration": 30.0,
    }


def report_v2(version: int = 2) -> dict[str, Any]:
    return {
        "metadata": {
            "version": version,
            "guidellm_version": "0.8.1",
            "python_version": "3.12.3",
            "platform": "Linux-6.8.0-x86_64",
        },
        "config": {
            "spec": {"backend": {"kind": "openai_http", "target": "http://127.0.0.1:8000"}},
            "benchmarks": [None],
        },
        "benchmarks": [
            bench_v2({"type_": "synchronous", "max_concurrency": None}, 80.5, 45.0),
            bench_v2({"type_": "concurrent", "streams": 4}, 250.25, 60.0),
            bench_v2({"type_": "constant", "rate": 2.5, "max_concurrency": None}, 190.0, 50.0),
        ],
    }


def test_current_v2_report(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.json"
    path.write_text(json.dumps(report_v2()))
    run = parse_file(path)
    assert run.format == "guidellm-json"
    assert (run.source_tool, run.source_version) == ("guidellm", "0.8.1")
    assert run.model == "Qwen/Qwen3-0.6B"
    assert run.server_url == "http://127.0.0.1:8000"
    assert run.platform == "Linux-6.8.0-x86_64"
    assert run.created_at == "2026-01-01T00:00:00+00:00"
    assert [t.name for t in run.tests] == [
        "serve synchronous",
        "serve concurrent@4",
        "serve constant@2.5",
    ]
    sync, conc, const = run.tests
    assert (sync.mean_tps, sync.sd_tps) == (80.5, 10.0)
    assert conc.concurrency == 4.0 and const.request_rate_rps == 2.5
    assert conc.ttft_ms is not None and conc.ttft_ms.mean == 60.0
    assert conc.ttft_ms.percentile(99.9) == 60.0 * 1.49
    assert conc.ttft_ms.percentile(0.1) == 60.0 * 0.51
    assert conc.ttft_ms.count == 10
    assert conc.itl_ms is not None and conc.itl_ms.sd == 2.0
    assert conc.request_throughput_rps == 1.5
    assert conc.total_throughput_tps == 250.25 * 3
    assert (conc.completed, conc.failed, conc.n) == (10, 1, 10)
    assert conc.duration_s == 30.0
    other = dict(conc.summaries)
    assert other["request_latency"].mean == 2.25  # seconds, as GuideLLM gives it
    assert other["time_to_first_output_token_ms"].mean == 61.0
    assert conc.e2el_ms is None  # no ms field invented from seconds
    extra = json.loads(conc.extra)
    assert extra["metrics"]["time_to_first_token_ms"]["errored"]["mean"] == 120.0
    assert "requests" not in extra
    assert any("9 per-request records were not imported" in n for n in run.notes)
    assert json.loads(run.extra)["schema"] == "v2"


def test_v1_report_with_args() -> None:
    report = report_v2()
    report["metadata"]["version"] = 1
    del report["config"]
    report["args"] = {"target": "http://10.0.0.5:8000", "model": "ibm/granite", "rate": None}
    for b in report["benchmarks"]:
        b["config"]["backend"] = {"type_": "openai_http"}
    run = parse(json.dumps(report))
    assert run.model == "ibm/granite"
    assert run.server_url == "http://10.0.0.5:8000"
    assert json.loads(run.extra)["schema"] == "v1"
    assert not any("newer" in n for n in run.notes)


def test_legacy_03_report() -> None:
    bench = {
        "type_": "generative_benchmark",
        "id_": "x",
        "run_id": "y",
        "args": {"strategy": {"type_": "poisson", "rate": 1.25}, "strategy_index": 0},
        "run_stats": {"start_time": 1735689600.0},
        "worker": {
            "type_": "generative_requests_worker",
            "backend_type": "openai_http",
            "backend_target": "http://localhost:8000",
            "backend_model": "llama3.2:1b",
        },
        "metrics": metrics(42.0, 33.0, legacy=True),
        "request_totals": {"successful": 7, "errored": 0, "incomplete": 1, "total": 8},
        "start_time": 1735689600.0,
        "end_time": 1735689660.0,
    }
    run = parse(json.dumps({"benchmarks": [bench]}))
    (t,) = run.tests
    assert run.model == "llama3.2:1b"
    assert t.name == "serve poisson@1.25"
    assert t.mean_tps == 42.0 and t.completed == 7 and t.failed == 0
    assert dict(t.params)["requests.incomplete"] == "1"
    assert run.source_version is None
    assert json.loads(run.extra)["schema"] == "legacy"
    assert run.created_at == "2025-01-01T00:00:00+00:00"


def test_newer_schema_imports_with_a_note() -> None:
    report = report_v2(version=3)
    report["benchmarks"][0]["metrics"]["future_metric_ms"] = status(7.0)
    report["benchmarks"][0]["shiny_new_block"] = {"a": 1}
    run = parse(json.dumps(report))
    assert any("schema version 3 is newer" in n for n in run.notes)
    t = run.tests[0]
    assert dict(t.summaries)["future_metric_ms"].mean == 7.0
    assert json.loads(t.extra)["shiny_new_block"] == {"a": 1}


def test_yaml_report(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "benchmarks.yaml"
    path.write_text(yaml.safe_dump(report_v2()))
    run = parse_file(path)
    assert run.format == "guidellm-yaml"
    assert [t.mean_tps for t in run.tests] == [80.5, 250.25, 190.0]


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "benchmarks.yaml"
    path.write_text("a: &x [1, 2]\nb: *x\nbenchmarks: []\n")
    with pytest.raises(TokbenchError, match="aliases"):
        parse_file(path)


def test_benchmark_without_metrics_is_refused() -> None:
    report = report_v2()
    del report["benchmarks"][1]["metrics"]
    with pytest.raises(TokbenchError, match="benchmark 2 has no metrics block"):
        parse_text(json.dumps(report), "guidellm-json")


def test_empty_report_is_refused() -> None:
    report = report_v2()
    report["benchmarks"] = []
    with pytest.raises(TokbenchError, match="holds no benchmarks"):
        parse_text(json.dumps(report))
