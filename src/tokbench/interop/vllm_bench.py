"""Read `vllm bench serve --save-result` JSON (and the older benchmarks/benchmark_serving.py form).

Keys follow vLLM's vllm/benchmarks/serve.py: date ("%Y%m%d-%H%M%S", local time), backend,
endpoint_type, label, model_id, tokenizer_id, num_prompts, request_rate ("inf" or a number),
burstiness, max_concurrency, duration, completed, failed, total_input_tokens,
total_output_tokens, request_throughput, request_goodput, output_throughput,
total_token_throughput, then mean_/median_/std_/p<N>_ for ttft, tpot, itl and e2el in ms.
`--metadata KEY=VALUE` adds top-level keys; `--save-detailed` adds per-request lists.
The older script had no `failed`, wrote `request_goodput:` (with the colon) and always kept the
per-request lists. `--append-result` writes one result per line; each becomes one test.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

from tokbench.errors import TokbenchError
from tokbench.interop.parsing import (
    check_size,
    check_tests,
    dumps,
    load_json,
    opt_float,
    opt_int,
    opt_str,
    sha256_text,
    strip_bom,
)
from tokbench.interop.records import ImportedRun, ImportedTest, Summary

TOOL = "vllm bench serve"
FORMAT = "vllm-bench-serve"

_REQUIRED = ("model_id", "completed")
# Per-request lists (ttfts, itls, latencies, input_lens ... in seconds or tokens) are kept as
# given in the test's extra; the generated texts are the model's output, not measurements.
_DROPPED = ("generated_texts",)
# --save-detailed lists longer than this (one value per request; itls one list per
# request) are left out: the summaries hold what views show, and a 75 MB result's lists
# made every `show` of it decode them again (16 s). Smaller runs keep theirs in extra.
MAX_DETAIL_VALUES = 10_000
_MAPPED = frozenset(
    {"date", "request_rate", "max_concurrency", "duration", "completed", "failed",
     "request_throughput", "output_throughput", "total_token_throughput", "version",
     "vllm_version"}
)  # fmt: skip
# Settings and totals the file gives, kept as the test's params.
_PARAMS = (
    "model_id", "backend", "endpoint_type", "label", "tokenizer_id", "num_prompts", "burstiness",
    "total_input_tokens", "total_output_tokens", "request_goodput", "request_goodput:",
    "ramp_up_strategy", "ramp_up_start_rps", "ramp_up_end_rps",
)  # fmt: skip
_METRIC_KEY = re.compile(r"^(?P<stat>mean|median|std|p(?P<p>\d+(?:\.\d+)?))_(?P<m>[a-z0-9_]+)_ms$")


def looks_like(value: Any) -> bool:
    """Whether a decoded JSON object is a vLLM serving result."""
    return (
        isinstance(value, dict)
        and "model_id" in value
        and (
            "request_throughput" in value or "mean_ttft_ms" in value or "output_throughput" in value
        )
    )


def _results(text: str) -> list[dict[str, Any]]:
    """One result, a list of them, or --append-result's one-result-per-line file."""
    check_size(text, "vLLM result")
    try:
        value = load_json(text, "vLLM result")
        values = value if isinstance(value, list) else [value]
    except TokbenchError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) < 2:
            raise
        values = [load_json(ln, "vLLM result") for ln in lines]
    if not values:
        raise TokbenchError("the vLLM result file holds no results")
    check_tests(len(values), "vLLM result file")
    for i, v in enumerate(values):
        if not isinstance(v, dict):
            raise TokbenchError(f"vLLM result {i + 1} is not a JSON object")
        missing = [k for k in _REQUIRED if k not in v]
        if missing or not looks_like(v):
            raise TokbenchError(
                f"vLLM result {i + 1} lacks {', '.join(missing) or 'throughput and latency fields'}"
            )
        if not isinstance(v["model_id"], str) or not v["model_id"].strip():
            raise TokbenchError(f"vLLM result {i + 1} has a model_id that is not a model's name")
    return values


def _summaries(result: dict[str, Any]) -> dict[str, Summary]:
    """Group mean_/median_/std_/pN_<metric>_ms keys into one Summary per metric."""
    parts: dict[str, dict[str, Any]] = {}
    for key, value in result.items():
        m = _METRIC_KEY.match(key)
        number = opt_float(value)
        if m is None or number is None:
            continue
        slot = parts.setdefault(m["m"], {"percentiles": []})
        if m["p"] is not None:
            slot["percentiles"].append((float(m["p"]), number))
        else:
            slot[m["stat"]] = number
    return {
        name: Summary(
            mean=p.get("mean"),
            median=p.get("median"),
            sd=p.get("std"),
            percentiles=tuple(p["percentiles"]),
        )
        for name, p in parts.items()
    }


def _name(rate: float | None, concurrency: int | None, result: dict[str, Any]) -> str:
    """A name in GuideLLM's strategy vocabulary, so serving runs line up across tools."""
    if result.get("ramp_up_strategy"):
        name = (
            f"serve ramp-{result['ramp_up_strategy']}@{result.get('ramp_up_start_rps')}-"
            f"{result.get('ramp_up_end_rps')}"
        )
    elif rate is None or math.isinf(rate):
        return f"serve concurrent@{concurrency}" if concurrency else "serve throughput"
    else:
        burst = opt_float(result.get("burstiness"))
        shape = "poisson" if burst in (None, 1.0) else f"gamma{burst:g}"
        name = f"serve {shape}@{rate:g}"
    return f"{name} max{concurrency}" if concurrency else name


def _created_at(date: Any) -> str | None:
    try:
        return datetime.strptime(str(date), "%Y%m%d-%H%M%S").isoformat()
    except ValueError:
        return opt_str(date)


def _test(result: dict[str, Any]) -> ImportedTest:
    rate = opt_float(result.get("request_rate"))
    concurrency = opt_int(result.get("max_concurrency"))
    summaries = _summaries(result)
    output_tps = opt_float(result.get("output_throughput"))
    metric_keys = {k for k in result if _METRIC_KEY.match(k)}
    params = tuple(
        (k, v if isinstance(v, str) else json.dumps(v))
        for k in _PARAMS
        if k in result and (v := result[k]) is not None
    )
    extra = {
        k: v
        for k, v in result.items()
        if k not in _MAPPED
        and k not in _PARAMS
        and k not in metric_keys
        and k not in _DROPPED
        and not _long_detail(v)
    }
    return ImportedTest(
        name=_name(rate, concurrency, result),
        kind="serve",
        mean_tps=output_tps,
        n=opt_int(result.get("completed")),
        ttft_ms=summaries.pop("ttft", None),
        tpot_ms=summaries.pop("tpot", None),
        itl_ms=summaries.pop("itl", None),
        e2el_ms=summaries.pop("e2el", None),
        request_throughput_rps=opt_float(result.get("request_throughput")),
        output_throughput_tps=output_tps,
        total_throughput_tps=opt_float(result.get("total_token_throughput")),
        concurrency=float(concurrency) if concurrency is not None else None,
        request_rate_rps=rate,
        completed=opt_int(result.get("completed")),
        failed=opt_int(result.get("failed")),
        duration_s=opt_float(result.get("duration")),
        summaries=tuple(sorted((f"{k}_ms", s) for k, s in summaries.items())),
        params=params,
        extra=dumps(extra),
    )


def _long_detail(value: Any) -> bool:
    return isinstance(value, list) and len(value) > MAX_DETAIL_VALUES


def parse(text: str) -> ImportedRun:
    text = strip_bom(text)
    results = _results(text)
    notes: list[str] = []
    if any("failed" not in r for r in results):
        notes.append("older benchmark_serving.py result: no failed-request count")
    dropped = sum(len(r[k]) for r in results for k in _DROPPED if isinstance(r.get(k), list))
    if dropped:
        notes.append(f"{dropped} generated texts were not imported (outputs, not measurements)")
    long = sorted(
        {k for r in results for k, v in r.items() if k not in _DROPPED and _long_detail(v)}
    )
    if long:
        notes.append(
            f"per-request lists of over {MAX_DETAIL_VALUES:,} values ({', '.join(long)}) were "
            "not imported; their summaries were"
        )
    models = {str(r["model_id"]) for r in results}
    if len(models) > 1:
        notes.append(f"results for {len(models)} models: see each test's params")
    versions = {opt_str(r.get("vllm_version") or r.get("version")) for r in results}
    dates = sorted(d for d in (_created_at(r.get("date")) for r in results) if d)
    return ImportedRun(
        source_tool=TOOL,
        source_version=versions.pop() if len(versions) == 1 else None,
        format=FORMAT,
        file_sha256=sha256_text(text),
        model=models.pop() if len(models) == 1 else None,
        tests=tuple(_test(r) for r in results),
        created_at=dates[0] if dates else None,
        notes=tuple(notes),
    )
