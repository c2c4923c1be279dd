"""The OpenAI-compatible backend against a real loopback HTTP server with injected timing."""

import statistics

import pytest

from tests.testing.fakeserver import FakeConfig, FakeServer
from tests.testing.faults import FaultServer, ServerConfig
from tokbench.backends.openai import OpenAIBackend, normalize_base_url
from tokbench.core.config import Sampling
from tokbench.core.metrics import request_metrics
from tokbench.core.trace import ChatRequest
from tokbench.errors import TokbenchError

REQ = ChatRequest((("user", "hi"),), 64, Sampling(temperature=0.5, seed=3))


def test_url_normalisation() -> None:
    assert normalize_base_url("127.0.0.1:1234") == "http://127.0.0.1:1234/v1"
    assert normalize_base_url("http://h:1/v1/") == "http://h:1/v1"
    assert normalize_base_url("https://api.x.com") == "https://api.x.com/v1"
    with pytest.raises(TokbenchError):
        normalize_base_url("ftp://x")
    from tokbench.net.http import root_url

    assert root_url("127.0.0.1:11434/api/") == "http://127.0.0.1:11434"
    assert root_url("https://openrouter.ai/api/v1") == "https://openrouter.ai/api"


def test_injected_timing_is_measured_within_5ms() -> None:
    cfg = FakeConfig(ttft_s=0.300, itl_s=0.020, n_tokens=25)
    with FakeServer(cfg) as srv:
        be = OpenAIBackend(srv.url)
        trace = be.stream(REQ)
        be.close()
    assert trace.error is None
    m = request_metrics(trace)
    assert m.ttft_ms == pytest.approx(300, abs=5)
    gaps = [(b - a) / 1e6 for a, b in zip(trace.times_ns, trace.times_ns[1:], strict=False)]
    assert len(gaps) == 24
    assert statistics.median(gaps) == pytest.approx(20, abs=5)
    assert m.itl_p50_ms == pytest.approx(20, abs=5)
    assert max(abs(g - 20) for g in gaps) < 5
    assert m.decode_tps == pytest.approx(50, rel=0.05)  # 24 tokens / 480 ms


def test_usage_is_used_and_request_is_well_formed() -> None:
    with FakeServer(FakeConfig(n_tokens=5, prompt_tokens=33)) as srv:
        be = OpenAIBackend(srv.url)
        assert be.model == "fake-model"  # first listed model
        trace = be.stream(REQ)
        body = srv.requests[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 64 and body["temperature"] == 0.5 and body["seed"] == 3
    assert "top_p" not in body  # unset parameters are not sent
    m = request_metrics(trace)
    assert (m.prompt_tokens, m.prompt_tokens_source) == (33, "server")
    assert (m.completion_tokens, m.completion_tokens_source) == (5, "server")
    assert trace.finish_reason == "stop"
    assert trace.text("answer") == "tok " * 5


def test_no_usage_gives_estimate_and_thinking_is_separated() -> None:
    cfg = FakeConfig(n_tokens=4, thinking_tokens=3, usage=False)
    with FakeServer(cfg) as srv:
        trace = OpenAIBackend(srv.url).stream(REQ)
    m = request_metrics(trace)
    assert (m.completion_tokens, m.completion_tokens_source) == (7, "estimate")
    assert (m.thinking_tokens, m.thinking_tokens_source) == (3, "estimate")
    assert m.prompt_tokens is None and m.prefill_tps is None
    assert trace.text("thinking") == "hmm " * 3
    assert trace.text("answer") == "tok " * 4
    assert m.ttfa_ms is not None and m.ttft_ms is not None and m.ttfa_ms >= m.ttft_ms


def test_server_reported_thinking_count() -> None:
    with FakeServer(FakeConfig(n_tokens=4, thinking_tokens=2)) as srv:
        m = request_metrics(OpenAIBackend(srv.url).stream(REQ))
    assert (m.thinking_tokens, m.thinking_tokens_source) == (2, "server")


def test_connection_refused_is_one_clear_sentence() -> None:
    with FakeServer() as srv:
        url = srv.url
    with pytest.raises(TokbenchError, match=r"nothing is listening .*\(connection refused\)"):
        OpenAIBackend(url)


def test_dns_failure() -> None:
    with pytest.raises(TokbenchError, match="cannot resolve host"):
        OpenAIBackend("http://no-such-host.invalid:1234")


def test_unauthorized_without_and_with_key() -> None:
    with FakeServer(FakeConfig(mode="unauthorized")) as srv:
        with pytest.raises(TokbenchError, match=r"requires authentication .*--api-key-env"):
            OpenAIBackend(srv.url)
        with pytest.raises(TokbenchError, match=r"rejected the API key from \$MY_KEY"):
            OpenAIBackend(srv.url, api_key="bad", api_key_env="MY_KEY")
        be = OpenAIBackend(srv.url, api_key="good", api_key_env="MY_KEY")
        assert be.stream(REQ).error is None


def test_unknown_model_names_the_served_ones() -> None:
    with FakeServer() as srv, pytest.raises(TokbenchError, match="serves: fake-model"):
        OpenAIBackend(srv.url, "llama-9000")


def test_not_an_llm_server() -> None:
    with (
        FakeServer(FakeConfig(mode="html")) as srv,
        pytest.raises(TokbenchError, match="did not answer like an OpenAI-compatible server"),
    ):
        OpenAIBackend(srv.url)


def test_non_streaming_server_is_a_request_error() -> None:
    with FakeServer(FakeConfig(mode="no-stream")) as srv:
        trace = OpenAIBackend(srv.url).stream(REQ)
    assert trace.error is not None and "without streaming" in trace.error


def test_stalled_stream_times_out_and_keeps_what_arrived() -> None:
    cfg = FakeConfig(mode="stall", stall_after=3, itl_s=0.01)
    with FakeServer(cfg) as srv:
        trace = OpenAIBackend(srv.url, timeout_s=5, idle_timeout_s=0.5).stream(REQ)
        whole = OpenAIBackend(srv.url, timeout_s=0.5).stream(REQ)
    assert trace.error is not None and "stalled" in trace.error and "--timeout" in trace.error
    assert len(trace.times_ns) == 3
    # without an idle timeout of its own, the request's deadline ends it
    assert whole.error is not None and "within the 0.5 s --timeout" in whole.error
    assert len(whole.times_ns) == 3 and (whole.end_ns - whole.start_ns) / 1e9 < 1.5


def test_keepalive_comments_do_not_extend_the_deadline() -> None:
    """A server that sends only `: keep-alive` comments (here every 0.1 s) is stopped by
    --timeout, a deadline for the whole request, not an idle timer."""
    cfg = ServerConfig(keepalive_every_s=0.1)
    with FaultServer("openai.keepalive-forever", config=cfg) as srv:
        be = OpenAIBackend(srv.url_for("openai.keepalive-forever"), timeout_s=0.5)
        trace = be.stream(REQ)
        be.close()
    assert trace.error is not None and "within the 0.5 s --timeout" in trace.error
    assert (trace.end_ns - trace.start_ns) / 1e9 < 1.5


def test_malformed_chunk_is_a_request_error() -> None:
    with FakeServer(FakeConfig(mode="bad-json", itl_s=0.001)) as srv:
        trace = OpenAIBackend(srv.url).stream(REQ)
    assert trace.error is not None and "malformed" in trace.error
