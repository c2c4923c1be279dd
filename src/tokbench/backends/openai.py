"""The OpenAI chat-completions protocol over HTTP: hosted APIs, and the base that
llama-server, LM Studio, vLLM and SGLang extend with what each adds (their own modules)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from tokbench import __version__
from tokbench.backends import replies
from tokbench.backends.base import Detected, Getter, OnToken
from tokbench.core.records import Target
from tokbench.core.trace import ANSWER, THINKING, ChatRequest, Count, EngineTiming, Recorder, Trace
from tokbench.errors import TokbenchError
from tokbench.net.http import MAX_RESPONSE_BYTES, Client, TransportError, credentials, http_url
from tokbench.net.lines import Limits, StreamLimitError, sse_data
from tokbench.net.status import error_detail, explain_status


def normalize_base_url(url: str) -> str:
    """`host:port`, `http://host:port` or `http://host:port/v1` -> `http://host:port/v1`."""
    url = http_url(url)
    return url if url.endswith("/v1") else url + "/v1"


def not_streaming(content_type: str) -> str:
    return (
        f"the server answered without streaming (Content-Type {content_type or '?'}); "
        "tokbench needs a streaming endpoint to time tokens"
    )


def model_ids(get: Getter, path: str = "/v1/models") -> list[str]:
    return replies.names(replies.field(get(path), "data"), "id")


def probe(get: Getter, root: str) -> Detected | None:
    models = get("/v1/models")
    if isinstance(models, dict) and isinstance(models.get("data"), list):
        return Detected(root, "openai", None, model_ids(get))
    return None


# Top-level fields that servers add to stream chunks beside `choices` and `usage`.
SERVER_FIELDS = ("timings", "stats", "model_info", "runtime")


@dataclass(frozen=True, slots=True)
class ServerCounts:
    prompt: Count | None
    completion: Count | None
    thinking: Count | None
    engine: EngineTiming | None
    server: dict[str, Any] | None  # kept with the request as the server sent it


class OpenAIBackend:
    """The OpenAI chat protocol: `usage` and `reasoning_content`. Server kinds subclass it
    and override the hooks `chat_path`, `request_fields`, `cache_fields`, `describe_server` and
    `server_counts`."""

    kind = "openai"
    chat_path = "/v1/chat/completions"

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        prompt_cache: bool = False,
        idle_timeout_s: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = normalize_base_url(url)
        self.prompt_cache = prompt_cache
        self.api_key_env = api_key_env
        headers = {"User-Agent": f"tokbench/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # the connection addresses the server root; OpenAI paths carry the /v1 prefix
        self.client = Client(
            self.base_url[: -len("/v1")],
            headers=headers,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            auth=credentials(url),
            idle_timeout_s=idle_timeout_s,
            max_response_bytes=max_response_bytes,
        )
        self.limits = Limits(
            max_line_bytes=max_response_bytes, max_response_bytes=max_response_bytes
        )
        self._models_raw: list[dict[str, Any]] = []
        self.models = self._list_models(model)
        if model is None:
            if not self.models:
                raise TokbenchError(f"{self.base_url}/models lists no models: pass --model NAME")
            model = self.models[0]
        elif self.models and model not in self.models:
            raise TokbenchError(
                f"the server does not serve model {model!r}; it serves: {', '.join(self.models)}"
            )
        self.model = model

    def close(self) -> None:
        self.client.close()

    def describe(self) -> Target:
        server = self.describe_server()
        return replace(
            server,
            backend_kind=self.kind,
            server_kind=self.kind,
            base_url=self.base_url,
            details={"served_models": self.models, **server.details},
        )

    def describe_server(self) -> Target:
        """Hook: what this server kind says about itself and the model."""
        return Target()

    def request_fields(self) -> dict[str, Any]:
        """Hook: fields this server kind adds to every request body."""
        return self.cache_fields(self.prompt_cache)

    def cache_fields(self, reuse: bool) -> dict[str, Any]:
        """Hook: fields that let a request reuse the server's prompt cache, or keep it from
        doing so (`run`, `converse --no-cache` and `bench` ask per request)."""
        return {}

    def server_counts(
        self, request: ChatRequest, usage: dict[str, Any] | None, final: dict[str, Any]
    ) -> ServerCounts:
        """Hook: counts and engine timing from `usage` and the server's extra fields of the
        stream (`final`: `timings`, `stats`, ... as sent)."""
        prompt_n, completion_n, thinking_n = usage_counts(usage)
        cached = cached_prompt_tokens(usage)
        engine = EngineTiming(cached_prompt_tokens=cached) if cached is not None else None
        return ServerCounts(prompt_n, completion_n, thinking_n, engine, final or None)

    def _get_json(self, path: str) -> dict[str, Any]:
        """A best-effort GET for descriptive details: {} when unavailable."""
        try:
            status, _ctype, body = self.client.get(path)
        except TransportError:
            return {}
        obj = replies.loads(body) if status < 400 else {}
        return obj if isinstance(obj, dict) else {}

    def _list_models(self, model: str | None) -> list[str]:
        try:
            status, ctype, body = self.client.get("/v1/models")
        except TransportError as exc:
            raise TokbenchError(str(exc)) from exc
        if status == 404 and model:
            return []  # some servers have no model list; the chosen model will tell
        if status >= 400:
            raise TokbenchError(explain_status(status, body, self.api_key_env, None))
        try:
            listed = replies.items(replies.obj(json.loads(body), "the model list")["data"], "data")
            self._models_raw = [replies.obj(m, f"data[{i}]") for i, m in enumerate(listed)]
            raw = self._models_raw
            ids = [replies.opt_text(m["id"], f"data[{i}].id") for i, m in enumerate(raw)]
            return [str(i) for i in ids if i]
        except replies.WireError as exc:
            raise TokbenchError(f"{self.base_url}/models: {exc}; check --url") from None
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise TokbenchError(
                f"{self.base_url}/models did not answer like an OpenAI-compatible server "
                f"(got {ctype or 'no content type'}): check --url"
            ) from exc

    def _body(self, request: ChatRequest, include_usage: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in request.messages],
            "max_tokens": request.max_tokens,
            "stream": True,
        }
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        body.update(self.request_fields())
        body.update(request.extra)
        s = request.sampling
        for key in ("temperature", "top_p", "top_k", "seed"):
            value = getattr(s, key)
            if value is not None:
                body[key] = value
        return body

    def stream(self, request: ChatRequest, on_token: OnToken | None = None) -> Trace:
        trace = self._stream(request, on_token, include_usage=True)
        if trace.error and "stream_options" in trace.error:
            # Older servers reject stream_options; counts then come from the chunks.
            trace = self._stream(request, on_token, include_usage=False)
        return trace

    def _stream(self, request: ChatRequest, on_token: OnToken | None, include_usage: bool) -> Trace:
        body = self._body(request, include_usage)
        clock = time.perf_counter_ns
        rec = Recorder(clock())
        finish: str | None = None
        usage: dict[str, Any] | None = None
        final: dict[str, Any] = {}  # the server's own fields: llama-server's timings, ...
        done = False  # the [DONE] sentinel was read
        counts: ServerCounts | None = None
        error: str | None = None
        try:
            with self.client.request(
                "POST", self.chat_path, body, accept="text/event-stream"
            ) as resp:
                if resp.status >= 400:
                    error = explain_status(resp.status, resp.read(), self.api_key_env, self.model)
                    return rec.finish(clock(), error=error)
                if "text/event-stream" not in resp.content_type:
                    return rec.finish(clock(), error=not_streaming(resp.content_type))
                add = rec.add
                # each event carries the time its bytes were read, taken before any parsing
                for t, data in sse_data(resp.chunks(), self.limits):
                    if data == b"[DONE]":
                        done = True
                        continue
                    chunk = replies.obj(json.loads(data), "a stream chunk")
                    if chunk.get("error") is not None:
                        detail = error_detail(data)
                        error = f"the server reported an error mid-stream: {detail}"
                        continue
                    choices = chunk.get("choices")
                    if choices is not None and replies.items(choices, "choices"):
                        choice = replies.obj(choices[0], "choices[0]")
                        delta = replies.opt_obj(choice.get("delta"), "choices[0].delta") or {}
                        think = replies.opt_text(
                            delta.get("reasoning_content"), "delta.reasoning_content"
                        ) or replies.opt_text(delta.get("reasoning"), "delta.reasoning")
                        if think:
                            add(t, THINKING, think)
                        text = replies.opt_text(delta.get("content"), "delta.content")
                        if text:
                            add(t, ANSWER, text)
                        reason = choice.get("finish_reason")
                        finish = replies.opt_text(reason, "choices[0].finish_reason") or finish
                        if on_token is not None and (think or text):
                            on_token()
                    if chunk.get("usage") is not None:
                        usage = replies.obj(chunk["usage"], "usage")
                    for key in SERVER_FIELDS:
                        if chunk.get(key) is not None:
                            final[key] = replies.obj(chunk[key], key)
            if not error and not rec.times_ns and finish is None:
                error = "the stream ended without any chunk: is this an OpenAI-compatible server?"
            elif not error and not done and finish is None:
                error = "the stream ended early (no finish_reason and no [DONE]): cut off?"
            counts = self.server_counts(request, usage, final) if not error else None
        except TransportError as exc:
            error = str(exc)
        except replies.WireError as exc:
            error = f"the server sent a malformed message: {exc}"
        except StreamLimitError as exc:
            error = str(exc)
        except (ValueError, UnicodeDecodeError) as exc:
            error = f"the server sent a malformed stream chunk: {exc}"
        except RecursionError:
            error = "the server sent JSON nested too deep to be a stream chunk"
        end = clock()
        if counts is None:
            counts = ServerCounts(None, None, None, None, final or None)
        return rec.finish(
            end,
            prompt_tokens=counts.prompt,
            completion_tokens=counts.completion,
            thinking_tokens=counts.thinking,
            finish_reason=finish,
            error=error,
            engine=counts.engine,
            server=counts.server,
        )


def cached_prompt_tokens(usage: dict[str, Any] | None) -> int | None:
    """Prompt tokens the server took from its prefix cache, from OpenAI's
    `usage.prompt_tokens_details.cached_tokens`: vLLM sends it with
    `--enable-prompt-tokens-details`, SGLang with `--enable-cache-report`; None (not
    reported) when absent, never 0 by default."""
    details = replies.opt_obj(
        (usage or {}).get("prompt_tokens_details"), "usage.prompt_tokens_details"
    )
    return replies.opt_count(
        (details or {}).get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens"
    )


def usage_counts(
    usage: dict[str, Any] | None,
) -> tuple[Count | None, Count | None, Count | None]:
    """(prompt, completion, thinking) counts from an OpenAI `usage` object."""
    usage = usage or {}
    details = replies.opt_obj(
        usage.get("completion_tokens_details"), "usage.completion_tokens_details"
    )

    def server(key: str, value: Any) -> Count | None:
        n = replies.opt_count(value, key)
        return Count(n, "server") if n is not None else None

    return (
        server("usage.prompt_tokens", usage.get("prompt_tokens")),
        server("usage.completion_tokens", usage.get("completion_tokens")),
        server("reasoning_tokens", (details or {}).get("reasoning_tokens")),
    )
