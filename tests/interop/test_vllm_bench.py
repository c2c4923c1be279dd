"""vLLM serving results, written in the shapes vllm/benchmarks/serve.py (current) and
benchmarks/benchmark_serving.py (older) save, import with every statistic as given."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tokbench.errors import TokbenchError
from tokbench.interop.detect import parse_file, parse_text
from tokbench.interop.vllm_bench import parse


def current_result(**over: Any) -> dict[str, Any]:
    """Key for key what `vllm bench serve --save-result --metadata tp=1` writes."""
    result: dict[str, Any] = {
        "date": "20260301-142233",
        "endpoint_type": "openai",
        "backend": "openai",
        "label": None,
        "model_id": "Qwen/Qwen3-8B",
        "tokenizer_id": "Qwen/Qwen3-8B",
        "num_prompts": 200,
        "tp": "1",
        "request_rate": "inf",
        "burstiness": 1.0,
        "max_concurrency": 8,
        "duration": 41.25731,
        "completed": 199,
        "failed": 1,
        "total_input_tokens": 204800,
        "total_output_tokens": 25472,
        "request_throughput": 4.82335,
        "request_goodput": None,
        "output_throughput": 617.3893,
        "total_token_throughput": 5581.2,
        "latencies": [1.5, 1.7],
        "queue_times": [0.0, 0.01],
        "max_output_tokens_per_s": 702.0,
        "max_concurrent_requests": 8,
        "rtfx": 0.0,
        "mean_ttft_ms": 95.123,
        "median_ttft_ms": 90.5,
        "std_ttft_ms": 20.25,
        "p50_ttft_ms": 90.5,
        "p90_ttft_ms": 120.75,
        "p99_ttft_ms": 160.0,
        "mean_tpot_ms": 12.5,
        "median_tpot_ms": 12.25,
        "std_tpot_ms": 1.5,
        "p99_tpot_ms": 16.125,
        "mean_itl_ms": 12.0,
        "median_itl_ms": 11.5,
        "std_itl_ms": 3.0,
        "p99_itl_ms": 30.0,
        "p99.9_itl_ms": 45.5,
        "mean_e2el_ms": 1610.0,
        "median_e2el_ms": 1600.0,
        "std_e2el_ms": 80.0,
        "p99_e2el_ms": 1900.0,
    }
    result.update(over)
    return result


def older_result() -> dict[str, Any]:
    """benchmarks/benchmark_serving.py: no failed count, the 'request_goodput:' key, and the
    per-request lists it kept by mistake."""
    return {
        "date": "20250115-093000",
        "backend": "vllm",
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "tokenizer_id": "meta-llama/Llama-3.1-8B-Instruct",
        "num_prompts": 3,
        "request_rate": 2.0,
        "burstiness": 1.0,
        "max_concurrency": None,
        "duration": 3.5,
        "completed": 3,
        "total_input_tokens": 300,
        "total_output_tokens": 96,
        "request_throughput": 0.857,
        "request_goodput:": 0.5,  # set when --goodput was given
        "output_throughput": 27.43,
        "total_token_throughput": 113.14,
        "input_lens": [100, 100, 100],
        "output_lens": [32, 32, 32],
        "ttfts": [0.051, 0.049, 0.060],
        "itls": [[0.02, 0.021], [0.019], [0.022]],
        "generated_texts": ["a", "b", "c"],
        "errors": ["", "", ""],
        "mean_ttft_ms": 53.33,
        "median_ttft_ms": 51.0,
        "std_ttft_ms": 4.78,
        "p99_ttft_ms": 59.82,
        "mean_tpot_ms": 20.5,
        "median_tpot_ms": 20.5,
        "std_tpot_ms": 0.5,
        "p99_tpot_ms": 21.0,
        "mean_itl_ms": 20.5,
        "median_itl_ms": 20.5,
        "std_itl_ms": 1.1,
        "p99_itl_ms": 22.0,
        "mean_e2el_ms": 700.0,
        "median_e2el_ms": 690.0,
        "std_e2el_ms": 12.0,
        "p99_e2el_ms": 720.0,
    }


def test_current_result_keeps_every_statistic(tmp_path: Path) -> None:
    data = current_result()
    path = tmp_path / "openai-infqps-concurrency8-Qwen3-8B-20260301-142233.json"
    path.write_text(json.dumps(data))
    run = parse_file(path)
    assert run.format == "vllm-bench-serve"
    assert run.source_tool == "vllm bench serve"
    assert run.model == "Qwen/Qwen3-8B"
    assert run.created_at == "2026-03-01T14:22:33"
    assert run.notes == ()
    (t,) = run.tests
    assert t.kind == "serve"
    assert t.name == "serve concurrent@8"
    assert t.mean_tps == data["output_throughput"]
    assert t.output_throughput_tps == data["output_throughput"]
    assert t.request_throughput_rps == data["request_throughput"]
    assert t.total_throughput_tps == data["total_token_throughput"]
    assert t.concurrency == 8
    assert t.request_rate_rps == math.inf
    assert (t.completed, t.failed, t.n) == (199, 1, 199)
    assert t.duration_s == data["duration"]
    assert t.ttft_ms is not None and t.itl_ms is not None and t.e2el_ms is not None
    assert (t.ttft_ms.mean, t.ttft_ms.median, t.ttft_ms.sd) == (95.123, 90.5, 20.25)
    assert t.ttft_ms.percentile(90.0) == 120.75
    assert t.ttft_ms.percentile(99.0) == 160.0
    assert t.itl_ms.percentile(99.9) == 45.5
    assert t.e2el_ms.mean == 1610.0
    assert t.tpot_ms is not None and t.tpot_ms.percentile(99.0) == 16.125
    params = dict(t.params)
    assert params["tokenizer_id"] == "Qwen/Qwen3-8B"
    assert params["total_output_tokens"] == "25472"
    extra = json.loads(t.extra)
    assert extra["tp"] == "1"  # --metadata keys are kept
    assert extra["latencies"] == [1.5, 1.7]  # per-request lists kept as given (seconds)
    assert extra["max_output_tokens_per_s"] == 702.0
    assert len(run.file_sha256) == 64


def test_older_benchmark_serving_result_imports_with_a_note() -> None:
    run = parse(json.dumps(older_result()))
    (t,) = run.tests
    assert t.name == "serve poisson@2"
    assert t.request_rate_rps == 2.0
    assert t.concurrency is None
    assert t.failed is None
    assert t.ttft_ms is not None and t.ttft_ms.percentile(99.0) == 59.82
    assert dict(t.params)["request_goodput:"] == "0.5"
    extra = json.loads(t.extra)
    assert extra["ttfts"] == [0.051, 0.049, 0.060]
    assert "generated_texts" not in extra
    assert any("no failed-request count" in n for n in run.notes)
    assert any("3 generated texts were not imported" in n for n in run.notes)


def test_newer_result_keeps_unknown_metrics() -> None:
    data = current_result(
        mean_e2el_including_client_queue_ms=1700.0,
        p99_e2el_including_client_queue_ms=2100.0,
        spec_decode_acceptance_rate=71.5,
    )
    (t,) = parse(json.dumps(data)).tests
    other = dict(t.summaries)
    assert other["e2el_including_client_queue_ms"].mean == 1700.0
    assert other["e2el_including_client_queue_ms"].percentile(99.0) == 2100.0
    assert json.loads(t.extra)["spec_decode_acceptance_rate"] == 71.5


def test_appended_results_become_one_test_each() -> None:
    a = current_result(max_concurrency=1, output_throughput=100.0)
    b = current_result(max_concurrency=4, output_throughput=350.0, date="20260301-150000")
    run = parse_text(json.dumps(a) + "\n" + json.dumps(b))
    assert run.format == "vllm-bench-serve"
    assert [t.name for t in run.tests] == ["serve concurrent@1", "serve concurrent@4"]
    assert [t.mean_tps for t in run.tests] == [100.0, 350.0]
    assert run.created_at == "2026-03-01T14:22:33"


def test_result_without_model_is_refused() -> None:
    data = current_result()
    del data["model_id"]
    with pytest.raises(TokbenchError, match="not a benchmark file"):
        parse_text(json.dumps(data))
    with pytest.raises(TokbenchError, match="lacks model_id"):
        parse(json.dumps(data))
