"""Ollama's native API: `/api/chat`, streamed as NDJSON, with the server's own timings.

The final line (`"done": true`) carries `total_duration`, `load_duration`,
`prompt_eval_count`, `prompt_eval_duration`, `eval_count` and `eval_duration` in
nanoseconds. `eval_count` includes thinking tokens; a cached prompt may report no
`prompt_eval_count` at all, which we keep as unknown rather than as infinite speed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tokbench import __version__
from tokbench.backends import wire
from tokbench.backends.base import Detected, Getter, OnToken
from tokbench.core.trace import ANSWER, THINKING, ChatRequest, Count, EngineTiming, Recorder, Trace
from tokbench.errors import TokbenchError
from tokbench.net.http import MAX_RESPONSE_BYTES, Client, TransportError, credentials, root_url
from tokbench.net.lines import Limits, StreamLimitError, ndjson_lines
from tokbench.net.status import error_detail, explain_status


def probe(get: Getter, root: str) -> Detected | None:
    version = get("/api/version")
    if isinstance(version, dict) and "version" in version:
        tags = get("/api/tags")
        listed = tags.get("models") if isinstance(tags, dict) else None
        models = [str(m.get("name")) for m in listed or [] if isinstance(m, dict)]
        return Detected(root, "ollama", str(version["version"]), models)
    return None


def _ms(ns: Any, where: str) -> float | None:
    """Ollama's nanoseconds as milliseconds; 0 (not measured) is None."""
    value = wire.opt_number(ns, where)
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
        self.version = wire.scalar(self._get("/api/version").get("version"))
        tags = self._get("/api/tags").get("models")
        self.models = [
            str(name)
            for m in (tags if isinstance(tags, list) else [])
            if (name := wire.scalar(wire.field(m, "name") or wire.field(m, "model")))
        ]
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

    def _get(self, path: str) -> dict[str, Any]:
        try:
            status, _ctype, body = self.client.get(path)
        except TransportError as exc:
            raise TokbenchError(str(exc)) from exc
        if status >= 400:
            raise TokbenchError(explain_status(status, body, self.api_key_env, None))
        try:
            obj = json.loads(body)
        except ValueError as exc:
            raise TokbenchError(f"{self.base_url}{path} did not answer like Ollama") from exc
        return obj if isinstance(obj, dict) else {}

    def _post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            with self.client.request("POST", path, payload) as resp:
                body = resp.read()
        except TransportError:
            return {}
        try:
            obj = json.loads(body) if resp.status < 400 else {}
        except ValueError:
            return {}
        return obj if isinstance(obj, dict) else {}

    def close(self) -> None:
        self.client.close()

    def describe(self) -> dict[str, Any]:
        show = self._show
        arch = wire.scalar(wire.field(show, "model_info", "general.architecture"))
        caps = show.get("capabilities")
        return {
            "base_url": self.base_url,
            "server_kind": "ollama",
            "server_version": self.version,
            "served_models": self.models,
            "family": wire.scalar(wire.field(show, "details", "family")),
            "parameter_size": wire.scalar(wire.field(show, "details", "parameter_size")),
            "quantization": wire.scalar(wire.field(show, "details", "quantization_level")),
            "format": wire.scalar(wire.field(show, "details", "format")),
            "architecture": arch,
            "context_length": wire.scalar(
                wire.field(show, "model_info", f"{arch}.context_length") if arch else None
            ),
            "capabilities": [c for c in caps if isinstance(c, str)]
            if isinstance(caps, list)
            else None,
            "keep_alive": self.keep_alive,
            "think": self.think,
        }

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
        final: dict[str, Any] = {}
        error: str | None = None
        engine: EngineTiming | None = None
        prompt_n = eval_n = None
        total_ms: float | None = None
        done_reason: str | None = None
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
                    error = self._record(line, t, rec, on_token, final) or error
            if not error and not final:
                error = "the stream ended before Ollama's final record (done: true)"
            if final:
                prompt_n = wire.opt_count(final.get("prompt_eval_count"), "prompt_eval_count")
                eval_n = wire.opt_count(final.get("eval_count"), "eval_count")
                engine = EngineTiming(
                    prompt_tokens=prompt_n or None,
                    prompt_ms=_ms(final.get("prompt_eval_duration"), "prompt_eval_duration"),
                    decode_tokens=eval_n,
                    decode_ms=_ms(final.get("eval_duration"), "eval_duration"),
                    load_ms=_ms(final.get("load_duration"), "load_duration"),
                )
                total_ms = _ms(final.get("total_duration"), "total_duration")
                done_reason = wire.opt_text(final.get("done_reason"), "done_reason")
        except TransportError as exc:
            error = str(exc)
        except wire.WireError as exc:
            error, engine = f"Ollama sent a malformed message: {exc}", None
        except StreamLimitError as exc:
            error, engine = str(exc), None
        except (ValueError, UnicodeDecodeError) as exc:
            error, engine = f"Ollama sent a malformed stream line: {exc}", None
        except RecursionError:
            error, engine = "Ollama sent JSON nested too deep to be a stream line", None
        end = clock()
        return rec.finish(
            end,
            prompt_tokens=Count(prompt_n, "server") if prompt_n and engine else None,
            completion_tokens=Count(eval_n, "server") if eval_n is not None and engine else None,
            finish_reason=done_reason,
            engine=engine,
            error=error,
            server={"total_ms": total_ms, "prompt_eval_count_missing": not prompt_n}
            if engine
            else None,
        )

    @staticmethod
    def _record(
        line: bytes, t: int, rec: Recorder, on_token: OnToken | None, final: dict[str, Any]
    ) -> str | None:
        """One NDJSON record: its text pieces go to `rec`, the final one to `final`; an
        error record's message is returned."""
        if not line.strip():
            return None
        obj = wire.obj(json.loads(line), "a stream record")
        if obj.get("error") is not None:
            return f"Ollama reported an error: {error_detail(line)}"
        msg = wire.opt_obj(obj.get("message"), "message") or {}
        think = wire.opt_text(msg.get("thinking"), "message.thinking")
        if think:
            rec.add(t, THINKING, think)
        text = wire.opt_text(msg.get("content"), "message.content")
        if text:
            rec.add(t, ANSWER, text)
        if on_token is not None and (think or text):
            on_token()
        if obj.get("done") is True:
            final.update(obj)
        return None
