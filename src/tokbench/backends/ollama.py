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
from tokbench.backends.base import Detected, Getter, OnToken
from tokbench.core.trace import ANSWER, THINKING, ChatRequest, Count, EngineTiming, Recorder, Trace
from tokbench.errors import TokbenchError
from tokbench.net.http import Client, TransportError, root_url
from tokbench.net.status import error_detail, explain_status


def probe(get: Getter, root: str) -> Detected | None:
    version = get("/api/version")
    if isinstance(version, dict) and "version" in version:
        tags = get("/api/tags")
        listed = tags.get("models") if isinstance(tags, dict) else None
        models = [str(m.get("name")) for m in listed or [] if isinstance(m, dict)]
        return Detected(root, "ollama", str(version["version"]), models)
    return None


def _ms(ns: Any) -> float | None:
    return ns / 1e6 if isinstance(ns, int | float) and ns > 0 else None


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
    ) -> None:
        self.base_url = root_url(url)
        self._api_key_env = api_key_env
        self.keep_alive = keep_alive
        self.think = think
        headers = {"User-Agent": f"tokbench/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.client = Client(self.base_url, headers=headers, timeout_s=timeout_s)
        self.version = self._get("/api/version").get("version")
        tags = self._get("/api/tags").get("models") or []
        self.models = [str(m.get("name") or m.get("model")) for m in tags]
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
            raise TokbenchError(explain_status(status, body, self._api_key_env, None))
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
        details = self._show.get("details") or {}
        info = self._show.get("model_info") or {}
        arch = info.get("general.architecture")
        return {
            "base_url": self.base_url,
            "server_kind": "ollama",
            "server_version": self.version,
            "served_models": self.models,
            "family": details.get("family"),
            "parameter_size": details.get("parameter_size"),
            "quantization": details.get("quantization_level"),
            "format": details.get("format"),
            "architecture": arch,
            "context_length": info.get(f"{arch}.context_length") if arch else None,
            "capabilities": self._show.get("capabilities"),
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
        options.update(extra.pop("options", None) or {})
        body.update(extra)
        return body

    def stream(self, request: ChatRequest, on_token: OnToken | None = None) -> Trace:
        clock = time.perf_counter_ns
        rec = Recorder(clock())
        final: dict[str, Any] = {}
        error: str | None = None
        try:
            with self.client.request(
                "POST", "/api/chat", self._body(request), accept="application/x-ndjson"
            ) as resp:
                if resp.status >= 400:
                    error = explain_status(resp.status, resp.read(), self._api_key_env, self.model)
                    return rec.finish(clock(), error=error)
                buf = b""
                add = rec.add
                while raw := resp.read1(65536):
                    t = clock()
                    lines = (buf + raw).split(b"\n")
                    buf = lines.pop()
                    for line in lines:
                        if not line.strip():
                            continue
                        obj = json.loads(line)
                        if obj.get("error"):
                            error = f"Ollama reported an error: {error_detail(line)}"
                            continue
                        msg = obj.get("message") or {}
                        think = msg.get("thinking")
                        if think:
                            add(t, THINKING, think)
                        text = msg.get("content")
                        if text:
                            add(t, ANSWER, text)
                        if on_token is not None and (think or text):
                            on_token()
                        if obj.get("done"):
                            final = obj
        except TransportError as exc:
            error = str(exc)
        except (ValueError, AttributeError) as exc:
            error = f"Ollama sent a malformed stream line: {exc}"
        end = clock()
        if not error and not final:
            error = "the stream ended before Ollama's final record (done: true)"
        prompt_n = final.get("prompt_eval_count")
        eval_n = final.get("eval_count")
        return rec.finish(
            end,
            prompt_tokens=Count(prompt_n, "server")
            if isinstance(prompt_n, int) and prompt_n
            else None,
            completion_tokens=Count(eval_n, "server") if isinstance(eval_n, int) else None,
            finish_reason=final.get("done_reason"),
            engine=EngineTiming(
                prompt_tokens=prompt_n if isinstance(prompt_n, int) and prompt_n else None,
                prompt_ms=_ms(final.get("prompt_eval_duration")),
                decode_tokens=eval_n if isinstance(eval_n, int) else None,
                decode_ms=_ms(final.get("eval_duration")),
                load_ms=_ms(final.get("load_duration")),
            )
            if final
            else None,
            error=error,
            server={
                "total_ms": _ms(final.get("total_duration")),
                "prompt_eval_count_missing": bool(final) and not prompt_n,
            }
            if final
            else None,
        )
