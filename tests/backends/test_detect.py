"""Server-native protocols, replayed from wire transcripts over a real loopback server."""

from __future__ import annotations

import os

import pytest

from tests.replay import (
    ReplayServer,
    Stream,
    llama_server_routes,
    lmstudio_routes,
    ollama_routes,
    vllm_routes,
)
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.backends.llama_server import LlamaServerBackend
from tokbench.backends.lmstudio import LMStudioBackend
from tokbench.backends.ollama import OllamaBackend
from tokbench.backends.registry import detect, scan, server_kind
from tokbench.backends.vllm import VLLMBackend
from tokbench.core.config import Connection, Sampling
from tokbench.core.metrics import request_metrics
from tokbench.core.trace import ChatRequest
from tokbench.errors import TokbenchError

REQ = ChatRequest((("user", "今天星期几?"),), 256, Sampling(temperature=0.6, seed=1))


def test_ollama_thinking_stream_and_server_timings() -> None:
    with ReplayServer(ollama_routes(Stream("ollama_chat_thinking.ndjson", 0.1, 0.01))) as srv:
        be = OllamaBackend(srv.url + "/v1", think=True, keep_alive="10m")
        assert be.model == "qwen3:8b" and be.version == "0.12.6"
        info = be.describe()
        trace = be.stream(REQ)
        sent = srv.seen[-1][2]
    assert info.quantization == "Q4_K_M" and info.details["context_length"] == 40960
    assert info.details["parameter_size"] == "8.2B" and info.details["family"] == "qwen3"
    assert info.backend_kind == "ollama"
    assert sent["think"] is True and sent["keep_alive"] == "10m"
    assert sent["options"] == {"num_predict": 256, "temperature": 0.6, "seed": 1}
    assert trace.text("thinking") == "Okay, the forecast said Wednesday."
    assert trace.text("answer") == "今天是星期四。"
    m = request_metrics(trace)
    assert m.answer_state == "answered" and m.finish_reason == "stop"
    assert m.ttft_ms == pytest.approx(100, abs=8)
    assert m.ttfa_ms == pytest.approx(170, abs=8)  # after 7 thinking records
    assert (m.completion_tokens, m.completion_tokens_source) == (11, "server")
    assert (m.thinking_tokens, m.thinking_tokens_source) == (7, "estimate")
    assert (m.answer_tokens, m.answer_tokens_source) == (4, "estimate")
    assert m.load_ms == pytest.approx(1201)  # a cold load is reported apart
    assert m.engine_prefill_tps == pytest.approx(26 / 0.130)
    assert m.engine_decode_tps == pytest.approx(11 / 1.1)
    # the replay paces 10 ms a record while the transcript claims 100 ms a token: flagged
    assert m.decode_gap_pct is not None and m.decode_gap_pct > 500
    assert m.crosscheck == "decode"


def test_ollama_cached_prompt_is_unknown_not_infinite() -> None:
    routes = ollama_routes(Stream("ollama_chat_cached.ndjson", 0.05, 0.01), "llama3.2:latest")
    with ReplayServer(routes) as srv:
        trace = OllamaBackend(srv.url, "llama3.2").stream(REQ)
    m = request_metrics(trace)
    assert m.prompt_tokens is None and m.prefill_tps is None and m.engine_prefill_tps is None
    assert trace.server is not None and trace.server["prompt_eval_count_missing"] is True
    assert m.engine_decode_tps == pytest.approx(4 / 0.3)
    assert trace.text("answer") == "9.9 is larger."


def test_ollama_thinking_truncated_state() -> None:
    with ReplayServer(ollama_routes(Stream("ollama_chat_truncated.ndjson", 0.02, 0.01))) as srv:
        m = request_metrics(OllamaBackend(srv.url).stream(REQ))
    assert m.answer_state == "thinking_truncated" and m.finish_reason == "length"


def test_ollama_unknown_model() -> None:
    with (
        ReplayServer(ollama_routes(Stream("ollama_chat_cached.ndjson"))) as srv,
        pytest.raises(TokbenchError, match="ollama pull mistral"),
    ):
        OllamaBackend(srv.url, "mistral")


def test_llama_server_reasoning_usage_and_timings_agree() -> None:
    # 20 ms a chunk, as the transcript's timings say (10 tokens: 9 intervals in 180 ms)
    with ReplayServer(llama_server_routes(Stream("llama_server_reasoning.sse", 0.05, 0.02))) as srv:
        be = LlamaServerBackend(srv.url)
        info = be.describe()
        trace = be.stream(REQ)
        sent = srv.seen[-1][2]
    assert sent["cache_prompt"] is False  # repeated runs must not hit the prompt cache
    assert info.server_version == "b6123-4a5b6c7d" and info.n_ctx == 4096
    assert (info.gguf_path or "").endswith(".gguf")
    assert trace.text("thinking") == "Compare decimals: 0.90 > 0.11"
    assert trace.text("answer") == "9.9 更大。"
    m = request_metrics(trace)
    assert (m.prompt_tokens, m.completion_tokens) == (18, 10)
    # llama-server's own rate: predicted_n - 1 intervals in predicted_ms, as the real server
    # computes predicted_per_second (tests/backends/test_llama_server.py checks it live)
    assert m.engine_decode_tps == pytest.approx(50)
    assert m.engine_prefill_tps == pytest.approx(18 / 0.0452)
    assert m.decode_tps == pytest.approx(50, rel=0.1)
    assert m.decode_gap_pct is not None and abs(m.decode_gap_pct) < 10
    assert m.count_gap_pct == pytest.approx(0)  # 10 chunks for 10 tokens
    assert m.crosscheck is None
    assert m.cached_prompt_tokens == 0


def test_llama_server_inline_close_tag_and_counts_from_timings() -> None:
    routes = llama_server_routes(Stream("llama_server_inline_close.sse", 0.02, 0.01))
    with ReplayServer(routes) as srv:
        be = LlamaServerBackend(srv.url, prompt_cache=True)
        trace = be.stream(REQ)
        assert srv.seen[-1][2]["cache_prompt"] is True
    assert trace.text("thinking") == "Wednesday rain was yesterday"
    assert trace.text("answer").strip() == "Thursday."
    m = request_metrics(trace)
    assert (m.prompt_tokens, m.prompt_tokens_source) == (17, "server")  # prompt_n + cache_n
    assert (m.completion_tokens, m.completion_tokens_source) == (8, "server")
    assert m.cached_prompt_tokens == 5
    assert m.answer_state == "answered"
    # the close tag's own timestamp is kept: 8 pieces for 8 tokens
    assert len(trace.times_ns) == 8 and m.count_gap_pct == pytest.approx(0)


def test_llama_server_tokenize_when_nothing_reports_the_prompt() -> None:
    routes = llama_server_routes(Stream("llama_server_reasoning.sse"))
    with ReplayServer(routes) as srv:
        be = LlamaServerBackend(srv.url)
        count = be._tokenized_prompt(REQ)
        calls = [p for _m, p, _b in srv.seen]
    assert count is not None and (count.value, count.source) == (12, "server")
    assert "/apply-template" in calls and "/tokenize" in calls


def test_lmstudio_rest_stats_and_inline_think() -> None:
    with ReplayServer(lmstudio_routes(Stream("lmstudio_v0_stream.sse", 0.05, 0.01))) as srv:
        be = LMStudioBackend(srv.url + "/v1")
        info = be.describe()
        trace = be.stream(REQ)
        path = srv.seen[-1][1]
    assert path == "/api/v0/chat/completions"
    assert info.quantization == "Q4_K_M" and info.details["context_length"] == 32768
    assert trace.text("thinking") == "Easy."
    assert trace.text("answer") == "The answer is D."
    assert trace.server is not None and trace.server["model_info"]["arch"] == "qwen2"
    assert trace.server["runtime"]["version"] == "1.50.2"
    m = request_metrics(trace)
    assert m.engine_decode_tps == pytest.approx(45.0)
    assert m.engine_prefill_tps == pytest.approx(95 / 0.21)
    assert (m.prompt_tokens, m.completion_tokens) == (95, 9)


def test_vllm_reasoning_field_and_reasoning_token_count() -> None:
    with ReplayServer(vllm_routes(Stream("vllm_reasoning.sse", 0.03, 0.01))) as srv:
        be = VLLMBackend(srv.url)
        assert be.describe().server_version == "0.11.2"
        trace = be.stream(REQ)
    m = request_metrics(trace)
    assert trace.text("thinking") == "Sound in air ~343 m/s"
    assert trace.text("answer") == "答案：D"
    assert (m.thinking_tokens, m.thinking_tokens_source) == (5, "server")
    assert (m.answer_tokens, m.answer_tokens_source) == (3, "server")
    assert m.ttfa_ms is not None and m.ttft_ms is not None and m.ttfa_ms > m.ttft_ms


@pytest.mark.parametrize(
    ("routes", "kind"),
    [
        (ollama_routes(Stream("ollama_chat_cached.ndjson")), "ollama"),
        (llama_server_routes(Stream("llama_server_reasoning.sse")), "llama-server"),
        (lmstudio_routes(Stream("lmstudio_v0_stream.sse")), "lmstudio"),
        (vllm_routes(Stream("vllm_reasoning.sse")), "vllm"),
        ({("GET", "/v1/models"): {"data": [{"id": "x"}]}}, "openai"),
    ],
)
def test_detection(routes: dict, kind: str) -> None:  # type: ignore[type-arg]
    with ReplayServer(routes) as srv:
        found = detect(srv.url + "/v1")
    assert found.kind == kind
    assert found.models


def test_detection_of_nothing_and_of_a_non_llm_server() -> None:
    with FakeServer() as srv:
        url = srv.url
    with pytest.raises(TokbenchError, match="connection refused"):
        detect(url)
    with (
        FakeServer(FakeConfig(mode="html")) as srv,
        pytest.raises(TokbenchError, match="not an LLM server tokbench knows"),
    ):
        detect(srv.url)


def test_scan_finds_given_hosts_and_skips_silent_ports() -> None:
    with ReplayServer(vllm_routes(Stream("vllm_reasoning.sse"))) as srv:
        found = scan([srv.url.removeprefix("http://")])
    kinds = [f.kind for f in found if not isinstance(f, str)]
    assert "vllm" in kinds


# Opt-in live tests: set the variable to a running server's URL.
LIVE = {
    "ollama": os.environ.get("TOKBENCH_LIVE_OLLAMA"),
    "llama-server": os.environ.get("TOKBENCH_LIVE_LLAMA_SERVER"),
    "lmstudio": os.environ.get("TOKBENCH_LIVE_LMSTUDIO"),
    "vllm": os.environ.get("TOKBENCH_LIVE_VLLM"),
}


@pytest.mark.parametrize("kind", list(LIVE))
def test_live_server(kind: str) -> None:
    url = LIVE[kind]
    if not url:
        pytest.skip(f"set TOKBENCH_LIVE_{kind.upper().replace('-', '_')}=URL to test a live {kind}")
    found = detect(url)
    assert found.kind == kind
    be = server_kind(kind).open(Connection(url=url, kind=kind), None)
    m = request_metrics(be.stream(ChatRequest((("user", "Say hi."),), 16)))
    assert m.completion_tokens and m.completion_tokens_source == "server"
    assert m.engine_decode_tps is None or m.engine_decode_tps > 0
