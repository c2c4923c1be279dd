"""The prompt cache and speculative decoding read from each server's own counters, through
the real backends against recorded streams."""

from __future__ import annotations

from typing import Any

import pytest

from tests.replay import (
    ReplayServer,
    Stream,
    llama_server_routes,
    lmstudio_routes,
    ollama_routes,
    sglang_routes,
    vllm_routes,
)
from tokbench.backends.llama_server import LlamaServerBackend
from tokbench.backends.lmstudio import LMStudioBackend
from tokbench.backends.ollama import OllamaBackend
from tokbench.backends.sglang import SGLangBackend
from tokbench.backends.vllm import VLLMBackend
from tokbench.conversations.cache import CacheReading, acceptance_rate, cache_reading, hit_rate
from tokbench.core.metrics import request_metrics
from tokbench.core.records import RequestMetrics
from tokbench.core.trace import ChatRequest

REQ = ChatRequest((("user", "and the second question?"),), 16)


def _metrics(backend: Any) -> RequestMetrics:
    trace = backend.stream(REQ)
    assert trace.error is None
    return request_metrics(trace)


def test_vllm_cached_tokens_from_prompt_tokens_details() -> None:
    with ReplayServer(vllm_routes(Stream("vllm_prefix_cached.sse", 0.01, 0.001))) as srv:
        m = _metrics(VLLMBackend(srv.url))
    assert cache_reading("vllm", m) == CacheReading(1184, 1210 - 1184, "server")


def test_sglang_cached_tokens_from_its_cache_report() -> None:
    with ReplayServer(sglang_routes(Stream("sglang_cache_report.sse", 0.01, 0.001))) as srv:
        m = _metrics(SGLangBackend(srv.url))
    reading = cache_reading("sglang", m)
    assert reading == CacheReading(512, 18, "server")
    assert reading.hit_rate == pytest.approx(512 / 530)


def test_llama_server_cache_and_draft_acceptance_from_timings() -> None:
    routes = llama_server_routes(Stream("llama_server_speculative.sse", 0.01, 0.001))
    with ReplayServer(routes) as srv:
        m = _metrics(LlamaServerBackend(srv.url))
    assert cache_reading("llama-server", m) == CacheReading(256, 44, "server")
    assert (m.draft_tokens, m.draft_accepted_tokens) == (12, 9)
    assert acceptance_rate([m, None]) == pytest.approx(0.75)


def test_llama_server_without_a_draft_model_reports_no_acceptance() -> None:
    routes = llama_server_routes(Stream("llama_server_reasoning.sse", 0.01, 0.001))
    with ReplayServer(routes) as srv:
        m = _metrics(LlamaServerBackend(srv.url))
    assert cache_reading("llama-server", m) == CacheReading(0, 18, "server")
    assert acceptance_rate([m]) is None


def test_ollama_cache_is_inferred_only_from_a_known_prompt_size() -> None:
    routes = ollama_routes(Stream("ollama_chat_warm_prompt.ndjson", 0.01, 0.001))
    with ReplayServer(routes) as srv:
        m = _metrics(OllamaBackend(srv.url, "qwen3:8b"))
    assert cache_reading("ollama", m) == CacheReading(None, 26, "not reported")
    assert cache_reading("ollama", m, prompt_size=300) == CacheReading(274, 26, "inferred")
    # a count larger than the prompt cannot be explained: not reported, never negative
    assert cache_reading("ollama", m, prompt_size=10).source == "not reported"


def test_ollama_wholly_cached_prompt_omits_the_count() -> None:
    routes = ollama_routes(Stream("ollama_chat_cached.ndjson", 0.01, 0.001), "llama3.2:latest")
    with ReplayServer(routes) as srv:
        m = _metrics(OllamaBackend(srv.url, "llama3.2:latest"))
    assert cache_reading("ollama", m, prompt_size=40) == CacheReading(40, 0, "inferred")


def test_lmstudio_reports_no_cache_and_says_so() -> None:
    with ReplayServer(lmstudio_routes(Stream("lmstudio_v0_stream.sse", 0.01, 0.001))) as srv:
        m = _metrics(LMStudioBackend(srv.url, "qwen2.5-7b-instruct"))
    reading = cache_reading("lmstudio", m)
    assert reading.source == "not reported" and reading.hit_rate is None


def test_hit_rate_is_token_weighted_and_skips_unreported_turns() -> None:
    turns = [
        CacheReading(0, 100, "server"),
        CacheReading(90, 10, "server"),
        CacheReading(None, None, "not reported"),
    ]
    assert hit_rate(turns) == pytest.approx(90 / 200)
    assert hit_rate(turns[2:]) is None
    assert cache_reading("embedded", None).source == "not reported"
