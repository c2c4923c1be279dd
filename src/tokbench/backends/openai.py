"""OpenAI-compatible chat completions over HTTP (LM Studio, llama-server, vLLM, hosted APIs)."""

from __future__ import annotations

import json
import time
from typing import Any

from tokbench import __version__
from tokbench.backends.base import OnToken
from tokbench.errors import TokbenchError
from tokbench.events import ANSWER, THINKING, ChatRequest, Count, EngineTiming, Recorder, Trace
from tokbench.http import Client, TransportError, http_url
from tokbench.sse import SSEParser


def normalize_base_url(url: str) -> str:
    """`host:port`, `http://host:port` or `http://host:port/v1` -> `http://host:port/v1`."""
    url = http_url(url)
    return url if url.endswith("/v1") else url + "/v1"


def explain_status(status: int, body: bytes, api_key_env: str | None, model: str | None) -> str:
    detail = error_detail(body)
    if status in (401, 403):
        if api_key_env:
            return (
                f"the server rejected the API key from ${api_key_env} (HTTP {status}): "
                "check that the key is valid for this server"
            )
        return (
            f"the server requires authentication (HTTP {status}): put the key in an environment "
            "variable and pass --api-key-env VAR"
        )
    if status == 404 and model and "model" in detail.lower():
        return f"the server does not know model {model!r} (HTTP 404: {detail})"
    if status == 404:
        return f"HTTP 404 ({detail}): is --url the server's OpenAI-compatible base URL?"
    return (
        f"HTTP {status} from the server: {detail}" if detail else f"HTTP {status} from the server"
    )


def error_detail(body: bytes) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:200]
    err = obj.get("error", obj) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:300]
    return str(err)[:300]


FLAVORS = ("openai", "llama-server", "lmstudio", "vllm", "sglang")


class OpenAIBackend:
    """The OpenAI chat protocol, plus what each server adds to it (its `flavor`):

    - llama-server: `timings` in the final chunk, `/props`, `/tokenize`, `cache_prompt`;
    - lmstudio: the REST `/api/v0/chat/completions` with `stats`, `model_info`, `runtime`;
    - vllm, sglang, openai (hosted APIs): `usage` and `reasoning_content`.
    """

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        flavor: str = "openai",
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        prompt_cache: bool = False,
    ) -> None:
        if flavor not in FLAVORS:
            raise TokbenchError(f"unknown OpenAI-compatible flavor {flavor!r}")
        self.kind = flavor
        self.base_url = normalize_base_url(url)
        self.prompt_cache = prompt_cache
        self._api_key_env = api_key_env
        headers = {"User-Agent": f"tokbench/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # the connection addresses the server root; OpenAI paths carry the /v1 prefix
        self._http = Client(
            self.base_url[: -len("/v1")],
            headers=headers,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )
        self.chat_path = (
            "/api/v0/chat/completions" if flavor == "lmstudio" else "/v1/chat/completions"
        )
        self._prompt_counts: dict[tuple[tuple[str, str], ...], int | None] = {}
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
        self._http.close()

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "base_url": self.base_url,
            "server_kind": self.kind,
            "served_models": self.models,
        }
        if self.kind == "llama-server":
            props = self._get_json("/props")
            settings = props.get("default_generation_settings") or {}
            meta = next(
                (m.get("meta") or {} for m in self._models_raw if m.get("id") == self.model), {}
            )
            info.update(
                server_version=props.get("build_info"),
                gguf_path=props.get("model_path"),
                quantization=props.get("model_ftype"),
                n_params=meta.get("n_params"),
                gguf_bytes=meta.get("size"),
                n_ctx=settings.get("n_ctx") or props.get("n_ctx"),
                total_slots=props.get("total_slots"),
                prompt_cache=self.prompt_cache,
            )
        elif self.kind == "lmstudio":
            m = self._get_json(f"/api/v0/models/{self.model}")
            info.update(
                architecture=m.get("arch"),
                quantization=m.get("quantization"),
                context_length=m.get("max_context_length"),
                format=m.get("compatibility_type"),
                model_state=m.get("state"),
            )
        elif self.kind in ("vllm", "sglang"):
            info["server_version"] = self._get_json("/version").get("version")
        return info

    def _get_json(self, path: str) -> dict[str, Any]:
        """A best-effort GET for descriptive details: {} when unavailable."""
        try:
            status, _ctype, body = self._http.get(path)
            obj = json.loads(body) if status < 400 else {}
        except (TransportError, ValueError):
            return {}
        return obj if isinstance(obj, dict) else {}

    def _list_models(self, model: str | None) -> list[str]:
        try:
            status, ctype, body = self._http.get("/v1/models")
        except TransportError as exc:
            raise TokbenchError(str(exc)) from exc
        if status == 404 and model:
            return []  # some servers have no model list; the chosen model will tell
        if status >= 400:
            raise TokbenchError(explain_status(status, body, self._api_key_env, None))
        try:
            self._models_raw = [m for m in json.loads(body)["data"] if isinstance(m, dict)]
            return [str(m["id"]) for m in self._models_raw]
        except (ValueError, KeyError, TypeError) as exc:
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
        if self.kind == "llama-server":
            body["cache_prompt"] = self.prompt_cache
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
        timings: dict[str, Any] | None = None  # llama-server
        stats: dict[str, Any] | None = None  # LM Studio REST
        extra: dict[str, Any] = {}
        error: str | None = None
        try:
            with self._http.request(
                "POST", self.chat_path, body, accept="text/event-stream"
            ) as resp:
                if resp.status >= 400:
                    error = explain_status(resp.status, resp.read(), self._api_key_env, self.model)
                    return rec.finish(clock(), error=error)
                if "text/event-stream" not in resp.content_type:
                    resp.read()
                    return rec.finish(
                        clock(),
                        error=(
                            "the server answered without streaming (Content-Type "
                            f"{resp.content_type or '?'}); tokbench needs a streaming chat "
                            "endpoint to time tokens"
                        ),
                    )
                parser = SSEParser()
                add = rec.add
                read1 = resp.read1
                while raw := read1(65536):
                    t = clock()  # one timestamp per read, taken before any parsing
                    for data in parser.feed(raw):
                        if data == b"[DONE]":
                            continue
                        obj = json.loads(data)
                        choices = obj.get("choices")
                        if choices:
                            choice = choices[0]
                            delta = choice.get("delta") or {}
                            think = delta.get("reasoning_content") or delta.get("reasoning")
                            if think:
                                add(t, THINKING, think)
                            text = delta.get("content")
                            if text:
                                add(t, ANSWER, text)
                            if choice.get("finish_reason"):
                                finish = choice["finish_reason"]
                            if on_token is not None and (think or text):
                                on_token()
                        if obj.get("usage"):
                            usage = obj["usage"]
                        if obj.get("timings"):
                            timings = obj["timings"]
                        if obj.get("stats"):
                            stats = obj["stats"]
                            extra = {k: obj[k] for k in ("model_info", "runtime") if k in obj}
                        if obj.get("error"):
                            detail = error_detail(data)
                            error = f"the server reported an error mid-stream: {detail}"
        except TransportError as exc:
            error = str(exc)
        except (ValueError, UnicodeDecodeError, AttributeError) as exc:
            error = f"the server sent a malformed stream chunk: {exc}"
        end = clock()
        if not error and not rec.times_ns and finish is None:
            error = "the stream ended without any chunk: is this an OpenAI-compatible server?"
        prompt_n, completion_n, thinking_n = _usage_counts(usage)
        engine = None
        if timings:
            engine = _llama_server_timing(timings)
            if prompt_n is None and engine.prompt_tokens is not None:
                prompt_n = Count(
                    engine.prompt_tokens + (engine.cached_prompt_tokens or 0), "server"
                )
            if completion_n is None and isinstance(timings.get("predicted_n"), int):
                completion_n = Count(timings["predicted_n"], "server")
        elif stats:
            engine = _lmstudio_timing(stats, usage or {})
            extra["stats"] = stats
        if prompt_n is None and not error and self.kind == "llama-server":
            prompt_n = self._tokenized_prompt(request)
        return rec.finish(
            end,
            prompt_tokens=prompt_n,
            completion_tokens=completion_n,
            thinking_tokens=thinking_n,
            finish_reason=finish,
            error=error,
            engine=engine,
            server={**extra, "timings": timings} if timings else extra or None,
        )

    def _tokenized_prompt(self, request: ChatRequest) -> Count | None:
        """Exact prompt length from llama-server's own template and tokenizer."""
        if request.messages not in self._prompt_counts:
            n: int | None = None
            messages = [{"role": r, "content": c} for r, c in request.messages]
            try:
                with self._http.request("POST", "/apply-template", {"messages": messages}) as r:
                    prompt = json.loads(r.read()).get("prompt") if r.status < 400 else None
                if isinstance(prompt, str):
                    payload = {"content": prompt, "add_special": True, "parse_special": True}
                    with self._http.request("POST", "/tokenize", payload) as r:
                        tokens = json.loads(r.read()).get("tokens") if r.status < 400 else None
                    n = len(tokens) if isinstance(tokens, list) else None
            except (TransportError, ValueError, AttributeError):
                n = None
            self._prompt_counts[request.messages] = n
        n = self._prompt_counts[request.messages]
        return Count(n, "server") if n is not None else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _llama_server_timing(t: dict[str, Any]) -> EngineTiming:
    def count(key: str) -> int | None:
        return t[key] if isinstance(t.get(key), int) else None

    return EngineTiming(
        prompt_tokens=count("prompt_n"),
        prompt_ms=_num(t.get("prompt_ms")),
        decode_tokens=count("predicted_n"),
        decode_ms=_num(t.get("predicted_ms")),
        cached_prompt_tokens=count("cache_n"),
    )


def _lmstudio_timing(stats: dict[str, Any], usage: dict[str, Any]) -> EngineTiming:
    """LM Studio reports tokens/s, TTFT and generation time (seconds), not counts."""
    tps = _num(stats.get("tokens_per_second"))
    ttft_s = _num(stats.get("time_to_first_token"))
    out = usage.get("completion_tokens")
    prompt = usage.get("prompt_tokens")
    decode_ms = out / tps * 1000 if tps and isinstance(out, int) else None
    return EngineTiming(
        prompt_tokens=prompt if isinstance(prompt, int) else None,
        prompt_ms=ttft_s * 1000 if ttft_s is not None else None,
        decode_tokens=out if isinstance(out, int) and decode_ms else None,
        decode_ms=decode_ms,
    )


def _usage_counts(usage: dict[str, Any] | None) -> tuple[Count | None, ...]:
    """(prompt, completion, thinking) counts from an OpenAI `usage` object."""
    usage = usage or {}
    details = usage.get("completion_tokens_details") or {}

    def server(value: Any) -> Count | None:
        return Count(value, "server") if isinstance(value, int) else None

    return (
        server(usage.get("prompt_tokens")),
        server(usage.get("completion_tokens")),
        server(details.get("reasoning_tokens")),
    )
