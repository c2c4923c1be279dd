"""Ollama's native API: `/api/chat`, streamed as NDJSON, with the server's own timings.

The final line (`"done": true`) carries `total_duration`, `load_duration`,
`prompt_eval_count`, `prompt_eval_duration`, `eval_count` and `eval_duration` in
nanoseconds. `eval_count` includes thinking tokens; a cached prompt may report no
`prompt_eval_count` at all, which we keep as unknown rather than as infinite speed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from tokbench import __version__
from tokbench.backends import replies
from tokbench.backends.base import Detected, Getter, OnToken
from tokbench.core.records import Target
from tokbench.core.trace import ANSWER, THINKING, ChatRequest, Count, EngineTiming, Recorder, Trace
from tokbench.errors import TokbenchError
from tokbench.net.http import MAX_RESPONSE_BYTES, Client, TransportError, credentials, root_url
from tokbench.net.lines import Limits, StreamLimitError, ndjson_lines
from tokbench.net.status import error_detail, explain_status


def probe(get: Getter, root: str) -> Detected | None:
    version = replies.label(replies.field(get("/api/version"), "version"))
    if version is None:
        return None
    # a malformed /api/tags lists nothing here; opening the server says what is wrong
    return Detected(
        root, "ollama", version, replies.names(replies.field(get("/api/tags"), "models"), "name")
    )


@dataclass(frozen=True, slots=True)
class Record:
    """One NDJSON record of /api/chat or /api/generate, validated."""

    text: str | None  # the answer piece (`message.content`, or `response` for generate)
    thinking: str | None  # `message.thinking`
    error: str | None  # an error record's message
    final: Final | None  # the last record (`done: true`): its counts and durations


@dataclass(frozen=True, slots=True)
class Final:
    """Ollama's final record: counts, and its nanosecond durations in ms (0: not measured)."""

    prompt_eval_count: int | None
    prompt_eval_ms: float | None
    eval_count: int | None
    eval_ms: float | None
    load_ms: float | None
    total_ms: float | None
    done_reason: str | None


def read_record(line: bytes, generate: bool = False) -> Record:
    """The one reader of Ollama's stream records, for runs and benches alike."""
    obj = replies.obj(json.loads(line), "a stream record")
    if obj.get("error") is not None:
        return Record(None, None, f"Ollama reported an error: {error_detail(line)}", None)
    if generate:
        # /api/generate's `response` is /api/chat's `message.content`
        text, thinking = replies.opt_text(obj.get("response"), "response (content)"), None
    else:
        msg = replies.opt_obj(obj.get("message"), "message") or {}
        text = replies.opt_text(msg.get("content"), "message.content")
        thinking = replies.opt_text(msg.get("thinking"), "message.thinking")
    done = obj.get("done")
    if done is not None and not isinstance(done, bool):
        raise replies.WireError(f"done is {json.dumps(done)[:20]}, expected true or false")
    final = None
    if done:
        final = Final(
            replies.opt_count(obj.get("prompt_eval_count"), "prompt_eval_count"),
            _ms(obj.get("prompt_eval_duration"), "prompt_eval_duration"),
            replies.opt_count(obj.get("eval_count"), "eval_count"),
            _ms(obj.get("eval_duration"), "eval_duration"),
            _ms(obj.get("load_duration"), "load_duration"),
            _ms(obj.get("total_duration"), "total_duration"),
            replies.opt_text(obj.get("done_reason"), "done_reason"),
        )
    return Record(text, thinking, None, final)


def _ms(ns: Any, where: str) -> float | None:
    """Ollama's nanoseconds as milliseconds; 0 (not measured) is None."""
    value = replies.opt_number(ns, where)
    return value / 1e6 if value else None


class OllamaBackend:
    kind = "ollama"

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout_s: float = 300.0,
        keep_alive: str | None = None,
        think: bool | None = None,
        idle_timeout_s: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = root_url(url)
        self.api_key_env = api_key_env
        self.keep_alive = keep_alive
        self.think = think
        headers = {"User-Agent": f"tokbench/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.client = Client(
            self.base_url,
            headers=headers,
            timeout_s=timeout_s,
            auth=credentials(url),
            idle_timeout_s=idle_timeout_s,
            max_response_bytes=max_response_bytes,
        )
        self.limits = Limits(
            max_line_bytes=max_response_bytes, max_response_bytes=max_response_bytes
        )
        self.version = replies.scalar(self._get("/api/version", strict=False).get("version"))
        try:
            tags = replies.items(self._get("/api/tags").get("models") or [], "models")
            self.models = [
                replies.opt_text(replies.obj(m, f"models[{i}]").get("name"), f"models[{i}].name")
                or replies.opt_text(m.get("model"), f"models[{i}].model")
                or ""
                for i, m in enumerate(tags)
            ]
        except replies.WireError as exc:
            raise TokbenchError(
                f"{self.base_url}/api/tags did not answer like Ollama: {exc}"
            ) from None
        if model is None:
            if not self.models:
                raise TokbenchError("Ollama has no models: pull one with `ollama pull NAME`")
            model = self.models[0]
        elif model not in self.models and f"{model}:latest" not in self.models:
            raise TokbenchError(
                f"Ollama has no model {model!r}; it has: {', '.join(self.models) or 'none'} "
                f"(ollama pull {model})"
            )
        self.model = model
        self._show = self._post_json("/api/show", {"model": model})

    def _get(self, path: str, strict: bool = True) -> dict[str, Any]:
        """A GET's JSON object; `strict=False`: {} for a body of another shape (a field
        that only describes the server)."""
        try:
            status, _ctype, body = self.client.get(path)
        except TransportError as exc:
            raise TokbenchError(str(exc)) from exc
        if status >= 400:
            raise TokbenchError(explain_status(status, body, self.api_key_env, None))
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise TokbenchError(f"{self.base_url}{path} did not answer like Ollama") from exc
        if not isinstance(obj, dict):
            if not strict:
                return {}
            raise TokbenchError(f"{self.base_url}{path} did not answer like Ollama (not an object)")
        return obj

    def _post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            with self.client.request("POST", path, payload) as resp:
                body = resp.read()
        except TransportError:
            return {}
        obj = replies.loads(body) if resp.status < 400 else {}
        return obj if isinstance(obj, dict) else {}

    def close(self) -> None:
        self.client.close()

    def describe(self) -> Target:
        """What the engine says of itself and the model, as stored with the run."""
        show = self._show
        arch = replies.scalar(replies.field(show, "model_info", "general.architecture"))
        caps = show.get("capabilities")
        return Target(
            backend_kind=self.kind,
            base_url=self.base_url,
            server_kind="ollama",
            server_version=replies.label(self.version),
            quantization=replies.label(replies.field(show, "details", "quantization_level")),
            details={
                "served_models": self.models,
                "family": replies.scalar(replies.field(show, "details", "family")),
                "parameter_size": replies.scalar(replies.field(show, "details", "parameter_size")),
                "format": replies.scalar(replies.field(show, "details", "format")),
                "architecture": arch,
                "context_length": replies.scalar(
                    replies.field(show, "model_info", f"{arch}.context_length") if arch else None
                ),
                "capabilities": [c for c in caps if isinstance(c, str)]
                if isinstance(caps, list)
                else None,
                "keep_alive": self.keep_alive,
                "think": self.think,
            },
        )

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        s = request.sampling
        options: dict[str, Any] = {"num_predict": request.max_tokens}
        for key in ("temperature", "top_p", "top_k", "seed"):
            value = getattr(s, key)
            if value is not None:
                options[key] = value
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in request.messages],
            "stream": True,
            "options": options,
        }
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        if self.think is not None:
            body["think"] = self.think
        extra = dict(request.extra)
        more = extra.pop("options", None) or {}
        if not isinstance(more, dict):
            raise TokbenchError("--extra-body: Ollama's options must be a JSON object")
        options.update(more)
        body.update(extra)
        return body

    def stream(self, request: ChatRequest, on_token: OnToken | None = None) -> Trace:
        clock = time.perf_counter_ns
        rec = Recorder(clock())
        final: Final | None = None
        error: str | None = None
        try:
            with self.client.request(
                "POST", "/api/chat", self._body(request), accept="application/x-ndjson"
            ) as resp:
                if resp.status >= 400:
                    error = explain_status(resp.status, resp.read(), self.api_key_env, self.model)
                    return rec.finish(clock(), error=error)
                # one record a line, the last even without its newline; each stamped
                # with the time its bytes were read
                for t, line in ndjson_lines(resp.chunks(), self.limits):
                    r = read_record(line)
                    if r.thinking:
                        rec.add(t, THINKING, r.thinking)
                    if r.text:
                        rec.add(t, ANSWER, r.text)
                    if on_token is not None and (r.thinking or r.text):
                        on_token()
                    error = r.error or error
                    final = r.final or final
            if not error and final is None:
                error = "the stream ended before Ollama's final record (done: true)"
        except TransportError as exc:
            error = str(exc)
        except replies.WireError as exc:
            error, final = f"Ollama sent a malformed message: {exc}", None
        except StreamLimitError as exc:
            error, final = str(exc), None
        except (ValueError, UnicodeDecodeError) as exc:
            error, final = f"Ollama sent a malformed stream line: {exc}", None
        except RecursionError:
            error, final = "Ollama sent JSON nested too deep to be a stream line", None
        end = clock()
        if final is None:
            return rec.finish(end, error=error)
        prompt_n = final.prompt_eval_count
        return rec.finish(
            end,
            prompt_tokens=Count(prompt_n, "server") if prompt_n else None,
            completion_tokens=(
                Count(final.eval_count, "server") if final.eval_count is not None else None
            ),
            finish_reason=final.done_reason,
            engine=EngineTiming(
                prompt_tokens=prompt_n or None,
                prompt_ms=final.prompt_eval_ms,
                decode_tokens=final.eval_count,
                decode_ms=final.eval_ms,
                load_ms=final.load_ms,
            ),
            error=error,
            server={"total_ms": final.total_ms, "prompt_eval_count_missing": not prompt_n},
        )
