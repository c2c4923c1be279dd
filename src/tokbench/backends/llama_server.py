"""llama.cpp's `llama-server`: the OpenAI protocol plus `timings` in the final chunk,
`/props` (build, model file, quantization), `/tokenize` and `cache_prompt`."""

from __future__ import annotations

from typing import Any

from tokbench.backends import replies
from tokbench.backends.base import Detected, Getter
from tokbench.backends.openai import (
    OpenAIBackend,
    ServerCounts,
    cached_prompt_tokens,
    model_ids,
    usage_counts,
)
from tokbench.core.records import Target
from tokbench.core.trace import ChatRequest, Count, EngineTiming
from tokbench.net.http import TransportError


def probe(get: Getter, root: str) -> Detected | None:
    props = get("/props")
    if isinstance(props, dict) and (
        "build_info" in props or "default_generation_settings" in props
    ):
        version = replies.label(props.get("build_info"))
        return Detected(root, "llama-server", version, model_ids(get))
    return None


class LlamaServerBackend(OpenAIBackend):
    kind = "llama-server"

    def __init__(self, url: str, model: str | None = None, **options: Any) -> None:
        super().__init__(url, model, **options)
        self._prompt_counts: dict[tuple[tuple[str, str], ...], int | None] = {}

    def describe_server(self) -> Target:
        props = self._get_json("/props")
        meta = next((m.get("meta") for m in self._models_raw if m.get("id") == self.model), None)
        return Target(
            server_version=replies.label(props.get("build_info")),
            gguf_path=replies.label(props.get("model_path")),
            quantization=replies.label(props.get("model_ftype")),
            n_params=replies.whole(replies.field(meta, "n_params")),
            gguf_bytes=replies.whole(replies.field(meta, "size")),
            n_ctx=replies.whole(
                replies.field(props, "default_generation_settings", "n_ctx") or props.get("n_ctx")
            ),
            details={
                "total_slots": replies.scalar(props.get("total_slots")),
                "prompt_cache": self.prompt_cache,
            },
        )

    def cache_fields(self, reuse: bool) -> dict[str, Any]:
        return {"cache_prompt": reuse}

    def server_counts(
        self, request: ChatRequest, usage: dict[str, Any] | None, final: dict[str, Any]
    ) -> ServerCounts:
        prompt_n, completion_n, thinking_n = usage_counts(usage)
        timings = final.get("timings")
        cached = cached_prompt_tokens(usage)  # newer builds also send it in `usage`
        engine = EngineTiming(cached_prompt_tokens=cached) if cached is not None else None
        if isinstance(timings, dict):
            engine = timing(timings)
            if prompt_n is None and engine.prompt_tokens is not None:
                prompt_n = Count(
                    engine.prompt_tokens + (engine.cached_prompt_tokens or 0), "server"
                )
            predicted = replies.opt_count(timings.get("predicted_n"), "timings.predicted_n")
            if completion_n is None and predicted is not None:
                completion_n = Count(predicted, "server")
        if prompt_n is None:
            prompt_n = self._tokenized_prompt(request)
        return ServerCounts(prompt_n, completion_n, thinking_n, engine, final or None)

    def _tokenized_prompt(self, request: ChatRequest) -> Count | None:
        """Exact prompt length from llama-server's own template and tokenizer."""
        if request.messages not in self._prompt_counts:
            n: int | None = None
            messages = [{"role": r, "content": c} for r, c in request.messages]
            try:
                with self.client.request("POST", "/apply-template", {"messages": messages}) as r:
                    body = replies.loads(r.read()) if r.status < 400 else None
                    prompt = replies.field(body, "prompt")
                if isinstance(prompt, str):
                    payload = {"content": prompt, "add_special": True, "parse_special": True}
                    with self.client.request("POST", "/tokenize", payload) as r:
                        tokens = (
                            replies.field(replies.loads(r.read()), "tokens")
                            if r.status < 400
                            else None
                        )
                    n = len(tokens) if isinstance(tokens, list) else None
            except (TransportError, ValueError):
                n = None
            self._prompt_counts[request.messages] = n
        n = self._prompt_counts[request.messages]
        return Count(n, "server") if n is not None else None


def timing(t: dict[str, Any]) -> EngineTiming:
    """llama-server's `timings`. Its decode clock (`predicted_ms`) runs from the first
    generated token to the last: `predicted_n` tokens are `predicted_n - 1` intervals, which
    is what its own `predicted_per_second` divides by (docs/metrics.md)."""
    predicted = replies.opt_count(t.get("predicted_n"), "timings.predicted_n")
    return EngineTiming(
        prompt_tokens=replies.opt_count(t.get("prompt_n"), "timings.prompt_n"),
        prompt_ms=replies.opt_number(t.get("prompt_ms"), "timings.prompt_ms"),
        decode_tokens=predicted - 1 if predicted else None,
        decode_ms=replies.opt_number(t.get("predicted_ms"), "timings.predicted_ms"),
        cached_prompt_tokens=replies.opt_count(t.get("cache_n"), "timings.cache_n"),
        # present only when the server runs a draft model (`-md`)
        draft_tokens=replies.opt_count(t.get("draft_n"), "timings.draft_n"),
        draft_accepted_tokens=replies.opt_count(
            t.get("draft_n_accepted"), "timings.draft_n_accepted"
        ),
    )
