"""OpenAI-compatible chat completions over HTTP (LM Studio, llama-server, vLLM, hosted APIs)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from tokbench import __version__
from tokbench.backends.base import OnToken
from tokbench.errors import TokbenchError
from tokbench.events import ANSWER, THINKING, ChatRequest, Count, Recorder, Trace
from tokbench.sse import SSEParser


def normalize_base_url(url: str) -> str:
    """`host:port`, `http://host:port` or `http://host:port/v1` -> `http://host:port/v1`."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TokbenchError(f"--url {url!r} is not an http(s) URL, e.g. http://127.0.0.1:1234/v1")
    url = url.rstrip("/")
    if not url.endswith("/v1"):
        url += "/v1"
    return url


def explain_transport_error(exc: Exception, url: str, timeout_s: float) -> str:
    """One actionable sentence for a network failure."""
    text = str(exc)
    host = urlsplit(url).netloc
    if isinstance(exc, httpx.ConnectError):
        if "Name or service not known" in text or "nodename nor servname" in text or (
            "getaddrinfo" in text or "Temporary failure in name resolution" in text
        ):
            return f"cannot resolve host {host!r}: check the host name in --url"
        if "refused" in text.lower():
            return (
                f"nothing is listening at {host} (connection refused): start the server, "
                "or check the port in --url"
            )
        return f"cannot connect to {host}: {text or type(exc).__name__}"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out connecting to {host}: is the host reachable?"
    if isinstance(exc, httpx.ReadTimeout):
        return (
            f"the stream stalled: no data from {host} for {timeout_s:g} s "
            "(raise --timeout for slow models)"
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server at {host} closed the connection mid-response: {text}"
    return f"{type(exc).__name__} talking to {host}: {text}"


def explain_status(status: int, body: str, api_key_env: str | None, model: str | None) -> str:
    detail = _error_detail(body)
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
    return f"HTTP {status} from the server: {detail}" if detail else f"HTTP {status} from the server"


def _error_detail(body: str) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    err = obj.get("error", obj) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:300]
    return str(err)[:300]


class OpenAIBackend:
    kind = "openai"

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_base_url(url)
        self.timeout_s = timeout_s
        self._api_key_env = api_key_env
        headers = {"User-Agent": f"tokbench/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
            trust_env=False,
        )
        self.models = self._list_models(model)
        if model is None:
            if not self.models:
                raise TokbenchError(
                    f"{self.base_url}/models lists no models: pass --model NAME"
                )
            model = self.models[0]
        elif self.models and model not in self.models:
            raise TokbenchError(
                f"the server does not serve model {model!r}; it serves: {', '.join(self.models)}"
            )
        self.model = model

    def close(self) -> None:
        self._client.close()

    def describe(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "served_models": self.models}

    def _list_models(self, model: str | None) -> list[str]:
        url = f"{self.base_url}/models"
        try:
            resp = self._client.get(url)
        except httpx.HTTPError as exc:
            raise TokbenchError(explain_transport_error(exc, url, self.timeout_s)) from exc
        if resp.status_code == 404 and model:
            return []  # some servers have no model list; the chosen model will tell
        if resp.status_code >= 400:
            raise TokbenchError(
                explain_status(resp.status_code, resp.text, self._api_key_env, None)
            )
        try:
            data = resp.json()["data"]
            return [str(m["id"]) for m in data]
        except (ValueError, KeyError, TypeError) as exc:
            ctype = resp.headers.get("content-type", "?")
            raise TokbenchError(
                f"{url} did not answer like an OpenAI-compatible server (got {ctype}): "
                "check --url"
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
        url = f"{self.base_url}/chat/completions"
        body = self._body(request, include_usage)
        clock = time.perf_counter_ns
        rec = Recorder(clock())
        finish: str | None = None
        usage: dict[str, Any] | None = None
        error: str | None = None
        try:
            with self._client.stream("POST", url, json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    error = explain_status(
                        resp.status_code, resp.text, self._api_key_env, self.model
                    )
                    return rec.finish(clock(), error=error)
                ctype = resp.headers.get("content-type", "")
                if "text/event-stream" not in ctype:
                    resp.read()
                    return rec.finish(
                        clock(),
                        error=(
                            f"the server answered without streaming (Content-Type {ctype or '?'}); "
                            "tokbench needs a streaming chat endpoint to time tokens"
                        ),
                    )
                parser = SSEParser()
                add = rec.add
                for raw in resp.iter_raw():
                    t = clock()
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
                        if obj.get("error"):
                            error = f"the server reported an error mid-stream: {_error_detail(data.decode())}"
        except httpx.HTTPError as exc:
            error = explain_transport_error(exc, url, self.timeout_s)
        except (ValueError, UnicodeDecodeError) as exc:
            error = f"the server sent a malformed stream chunk: {exc}"
        end = clock()
        if not error and not rec.times_ns and finish is None:
            error = "the stream ended without any chunk: is this an OpenAI-compatible server?"
        return rec.finish(
            end,
            finish_reason=finish,
            error=error,
            **_usage_counts(usage),
        )


def _usage_counts(usage: dict[str, Any] | None) -> dict[str, Count | None]:
    if not usage:
        return {}
    out: dict[str, Count | None] = {}
    if isinstance(usage.get("prompt_tokens"), int):
        out["prompt_tokens"] = Count(usage["prompt_tokens"], "server")
    if isinstance(usage.get("completion_tokens"), int):
        out["completion_tokens"] = Count(usage["completion_tokens"], "server")
    details = usage.get("completion_tokens_details") or {}
    if isinstance(details.get("reasoning_tokens"), int):
        out["thinking_tokens"] = Count(details["reasoning_tokens"], "server")
    return out
