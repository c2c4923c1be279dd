"""LM Studio: its REST `/api/v0/chat/completions` speaks the OpenAI protocol and adds
`stats` (tokens/s, time to first token), `model_info` and `runtime`."""

from __future__ import annotations

from typing import Any

from tokbench.backends import replies
from tokbench.backends.base import Detected, Getter
from tokbench.backends.openai import OpenAIBackend, ServerCounts, model_ids, usage_counts
from tokbench.core.records import Target
from tokbench.core.trace import ChatRequest, EngineTiming


def probe(get: Getter, root: str) -> Detected | None:
    models = model_ids(get, "/api/v0/models")
    return Detected(root, "lmstudio", None, models) if models else None


class LMStudioBackend(OpenAIBackend):
    kind = "lmstudio"
    chat_path = "/api/v0/chat/completions"

    def describe_server(self) -> Target:
        m = self._get_json(f"/api/v0/models/{self.model}")
        return Target(
            quantization=replies.label(m.get("quantization")),
            details={
                "architecture": replies.scalar(m.get("arch")),
                "context_length": replies.scalar(m.get("max_context_length")),
                "format": replies.scalar(m.get("compatibility_type")),
                "model_state": replies.scalar(m.get("state")),
            },
        )

    def server_counts(
        self, request: ChatRequest, usage: dict[str, Any] | None, final: dict[str, Any]
    ) -> ServerCounts:
        prompt_n, completion_n, thinking_n = usage_counts(usage)
        stats = final.get("stats")
        engine = timing(stats, usage or {}) if isinstance(stats, dict) else None
        return ServerCounts(prompt_n, completion_n, thinking_n, engine, final or None)


def timing(stats: dict[str, Any], usage: dict[str, Any]) -> EngineTiming:
    """LM Studio reports tokens/s, TTFT and generation time (seconds), not counts."""
    tps = replies.opt_number(stats.get("tokens_per_second"), "stats.tokens_per_second")
    ttft_s = replies.opt_number(stats.get("time_to_first_token"), "stats.time_to_first_token")
    out = replies.opt_count(usage.get("completion_tokens"), "usage.completion_tokens")
    prompt = replies.opt_count(usage.get("prompt_tokens"), "usage.prompt_tokens")
    decode_ms = out / tps * 1000 if tps and out is not None else None
    return EngineTiming(
        prompt_tokens=prompt,
        prompt_ms=ttft_s * 1000 if ttft_s is not None else None,
        decode_tokens=out if decode_ms else None,
        decode_ms=decode_ms,
    )
