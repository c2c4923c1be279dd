"""vLLM's request fields, against a faithful transcript server (tests/replay.py); the real
vLLM's answer to them is tested live in tests/backends/test_vllm_live.py."""

from __future__ import annotations

from tests.replay import ReplayServer, Stream, vllm_routes
from tokbench.backends.vllm import VLLMBackend
from tokbench.core.trace import ChatRequest

REQ = ChatRequest((("user", "Say hi."),), 16)


def test_without_prompt_cache_each_request_gets_a_salt_never_used_before() -> None:
    with ReplayServer(vllm_routes(Stream("vllm_reasoning.sse"))) as srv:
        be = VLLMBackend(srv.url)
        be.stream(REQ)
        be.stream(REQ)
        salts = [body["cache_salt"] for _m, _p, body in srv.seen[-2:]]
    # a fresh salt keys a cache of its own: the same prompt again reuses nothing
    assert all(isinstance(s, str) and 0 < len(s) <= 128 for s in salts)
    assert salts[0] != salts[1]


def test_with_prompt_cache_no_salt_is_sent() -> None:
    with ReplayServer(vllm_routes(Stream("vllm_reasoning.sse"))) as srv:
        VLLMBackend(srv.url, prompt_cache=True).stream(REQ)
        assert "cache_salt" not in srv.seen[-1][2]
