"""A loopback fault-injection server for the three wire protocols tokbench speaks.

It answers like an OpenAI-compatible server (`/v1/models`, `/v1/chat/completions`,
`/v1/completions`), like llama-server (those plus `/props`, `/health`, `/tokenize`,
`/apply-template`, `/completion`, with its `timings`) or like Ollama (`/api/version`,
`/api/tags`, `/api/show`, `/api/chat`, `/api/generate` as NDJSON with durations in
ns), and breaks exactly one thing: the fault mode. Every mode is a row of `FAULTS`
saying what it breaks and what a correct client must conclude (`expect`).

One server serves every mode: a URL `http://127.0.0.1:PORT/fault/<mode>/...` selects
the mode per request (the clients keep a URL's path prefix on every request), and a
URL without the prefix gets the server's default mode.

Hostile bodies stay bounded unless size is the point; the modes that never end by
design (keep-alive forever, endless stream, stalls) stop after `stall_s` (30 s by
default), when the client disconnects, or when the server closes. It binds to
127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import json
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from tests.testing.fault_table import (
    DEFAULT_MODEL,
    FAULTS,
    FAULTS_BY_NAME,
    OLLAMA_MODEL,
    PROTOCOLS,
    Expect,
    Fault,
    Kind,
    Patch,
    Protocol,
    fault,
    faults_for,
)
from tokbench.errors import TokbenchError

__all__ = [
    "FAULTS",
    "FAULTS_BY_NAME",
    "PROTOCOLS",
    "Expect",
    "Fault",
    "FaultServer",
    "Patch",
    "Protocol",
    "Seen",
    "ServerConfig",
    "apply_patch",
    "fault",
    "faults_for",
    "resolve_path",
]

# header faults: added to an otherwise normal answer
_FAULT_HEADERS: dict[str, tuple[tuple[str, str], ...]] = {
    "huge-header": (("X-Fill", "a" * 70_000),),
    "many-headers": tuple((f"X-Fault-{i}", str(i)) for i in range(150)),
}


@dataclass(frozen=True, slots=True)
class ServerConfig:
    n_tokens: int = 8  # answer length when the client does not force one
    max_tokens: int = 512  # cap on a forced length (ignore_eos / min_tokens)
    ttft_s: float = 0.004
    itl_s: float = 0.002  # paced so that every token is its own read on loopback
    token: str = "tok "
    stall_s: float = 30.0  # bound of every mode that would otherwise never end
    keepalive_every_s: float = 1.0
    endless_max_bytes: int = 2 * 1024**3


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the server received."""

    method: str
    path: str  # without the /fault/<mode> prefix
    mode: str
    endpoint: str
    body: Any  # the decoded JSON request body, or None


# ---------------------------------------------------------------------------------------
# Normal answers, per protocol and endpoint

_ALIASES: dict[str, dict[str, tuple[str | int, ...]]] = {
    "$content": {
        "chat": ("choices", 0, "delta", "content"),
        "text": ("choices", 0, "text"),
        "llama": ("content",),
        "ollama-chat": ("message", "content"),
        "ollama-generate": ("response",),
    },
    "$reasoning": {
        "chat": ("choices", 0, "delta", "reasoning_content"),
        "text": ("choices", 0, "reasoning_content"),
        "llama": ("reasoning_content",),
        "ollama-chat": ("message", "thinking"),
        "ollama-generate": ("thinking",),
    },
    "$finish": {
        "chat": ("choices", 0, "finish_reason"),
        "text": ("choices", 0, "finish_reason"),
        "llama": ("stop_type",),
        "ollama-chat": ("done_reason",),
        "ollama-generate": ("done_reason",),
    },
}


def resolve_path(path: tuple[str | int, ...], kind: str) -> tuple[str | int, ...]:
    """A patch path with its leading alias ($content...) replaced by `kind`'s own field."""
    if path and isinstance(path[0], str) and path[0].startswith("$"):
        return _ALIASES[path[0]].get(kind, (path[0][1:],)) + path[1:]
    return path


def apply_patch(obj: Any, path: tuple[str | int, ...], value: object, delete: bool) -> Any:
    """`obj` with the field at `path` set to `value` (or removed); returns the new root."""
    if not path:
        return value
    node = obj
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, dict):
            child = node.get(key)
            if not isinstance(child, dict | list):
                child = [] if isinstance(nxt, int) else {}
                node[key] = child
            node = child
        elif isinstance(node, list) and isinstance(key, int):
            while len(node) <= key:
                node.append({})
            node = node[key]
        else:  # pragma: no cover - table paths always walk containers
            raise TokbenchError(f"fault patch path {path!r} does not fit the record")
    last = path[-1]
    if isinstance(node, dict):
        if delete:
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value
    return obj


def _words(req: Any) -> int:
    if not isinstance(req, dict):
        return 1
    text = req.get("prompt") or req.get("content") or ""
    msgs = req.get("messages")
    if isinstance(msgs, list):
        text = " ".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
    return len(str(text).split())


def _asked_tokens(req: Any, kind: str) -> tuple[int | None, bool]:
    """(tokens asked for, whether the length is forced)."""
    if not isinstance(req, dict):
        return None, False
    if kind.startswith("ollama"):
        opts = req.get("options")
        n = opts.get("num_predict") if isinstance(opts, dict) else None
        return (n if isinstance(n, int) and n > 0 else None), isinstance(n, int) and n > 0
    n = req.get("max_tokens", req.get("n_predict"))
    forced = bool(req.get("ignore_eos") or req.get("min_tokens"))
    return (n if isinstance(n, int) and n > 0 else None), forced


@dataclass(slots=True)
class _Stream:
    """One answer as framed records: head, tokens (paced), tail."""

    head: list[bytes] = field(default_factory=list)
    tokens: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)
    ctype: str = "text/event-stream"

    def body(self) -> bytes:
        return b"".join(self.head + self.tokens + self.tail)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _build_stream(
    kind: Kind, proto: Protocol, req: Any, flt: Fault, cfg: ServerConfig, model: str
) -> _Stream:
    asked, forced = _asked_tokens(req, kind)
    if flt.n_tokens:
        n = flt.n_tokens
    elif forced and asked:
        n = min(asked, cfg.max_tokens)
    else:
        n = min(asked or cfg.n_tokens, cfg.n_tokens)
    finish = "length" if asked is not None and n >= asked else "stop"
    prompt_n = _words(req) + (1 if kind in ("text", "ollama-generate", "llama") else 4)
    # nominal server figures from the pacing (1 ms when unpaced: never a zero duration)
    itl_ms = cfg.itl_s * 1000 or 1.0
    span_ms = max(n - 1, 1) * itl_ms
    prompt_ms = cfg.ttft_s * 1000 or 1.0
    sse = kind in ("chat", "text", "llama")
    with_usage = bool(
        isinstance(req, dict)
        and isinstance(req.get("stream_options"), dict)
        and req["stream_options"].get("include_usage")
    )
    timings = {
        "cache_n": 0,
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": prompt_ms / prompt_n,
        "prompt_per_second": prompt_n / prompt_ms * 1000,
        "predicted_n": n,
        "predicted_ms": span_ms,
        "predicted_per_token_ms": span_ms / max(n - 1, 1),
        "predicted_per_second": max(n - 1, 1) / span_ms * 1000,
    }
    usage = {"prompt_tokens": prompt_n, "completion_tokens": n, "total_tokens": prompt_n + n}
    ident = {"id": "fault-1", "created": 0, "model": model}
    head: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]]
    tail: list[dict[str, Any]]
    finish_i = final_i = 0  # indexes into tail
    if kind == "chat":
        obj = "chat.completion.chunk"
        head = [
            {
                **ident,
                "object": obj,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        ]
        tokens = [
            {
                **ident,
                "object": obj,
                "choices": [{"index": 0, "delta": {"content": cfg.token}, "finish_reason": None}],
            }
            for _ in range(n)
        ]
        tail = [
            {
                **ident,
                "object": obj,
                "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
            }
        ]
    elif kind == "text":
        obj = "text_completion"
        tokens = [
            {
                **ident,
                "object": obj,
                "choices": [{"index": 0, "text": cfg.token, "finish_reason": None}],
            }
            for _ in range(n)
        ]
        tail = [
            {**ident, "object": obj, "choices": [{"index": 0, "text": "", "finish_reason": finish}]}
        ]
    elif kind == "llama":
        tokens = [
            {
                "index": 0,
                "content": cfg.token,
                "tokens": [],
                "stop": False,
                "id_slot": 0,
                "tokens_predicted": i + 1,
                "tokens_evaluated": prompt_n,
            }
            for i in range(n)
        ]
        tail = [
            {
                "index": 0,
                "content": "",
                "tokens": [],
                "id_slot": 0,
                "stop": True,
                "model": model,
                "tokens_predicted": n,
                "tokens_evaluated": prompt_n,
                "stop_type": "limit" if finish == "length" else "eos",
                "stopping_word": "",
                "tokens_cached": prompt_n + n,
                "truncated": False,
                "timings": timings,
            }
        ]
    else:
        ts = "2026-01-01T00:00:00.000000Z"
        key = "message" if kind == "ollama-chat" else "response"
        piece: Any = {"role": "assistant", "content": cfg.token} if key == "message" else cfg.token
        tokens = [{"model": model, "created_at": ts, key: piece, "done": False} for _ in range(n)]
        last: dict[str, Any] = {
            "model": model,
            "created_at": ts,
            key: {"role": "assistant", "content": ""} if key == "message" else "",
        }
        if kind == "ollama-generate":
            last["context"] = [1, 2, 3]
        last.update(
            done_reason=finish,
            done=True,
            total_duration=int((prompt_ms + n * itl_ms) * 1e6) + 1_000_000,
            load_duration=1_000_000,
            prompt_eval_count=prompt_n,
            prompt_eval_duration=int(prompt_ms * 1e6),
            eval_count=n,
            eval_duration=int(n * itl_ms * 1e6),
        )
        tail = [last]
    if proto == "llama-server" and kind in ("chat", "text"):
        tail[0]["timings"] = timings
        if with_usage:
            tail[0]["usage"] = usage
    elif kind in ("chat", "text") and with_usage:
        tail.append({**ident, "object": tail[0]["object"], "choices": [], "usage": usage})
        final_i = 1
    p = flt.patch
    if p is not None:
        path = resolve_path(p.path, kind)
        if p.target == "token" and tokens:
            tokens[0] = apply_patch(tokens[0], path, p.value, p.delete)
        elif p.target == "finish":
            tail[finish_i] = apply_patch(tail[finish_i], path, p.value, p.delete)
        elif p.target == "final":
            tail[final_i] = apply_patch(tail[final_i], path, p.value, p.delete)

    def frame(raw: bytes) -> bytes:
        return b"data: " + raw + b"\n\n" if sse else raw + b"\n"

    out = _Stream(ctype="text/event-stream" if sse else "application/x-ndjson")
    out.head = [frame(_dumps(o)) for o in head]
    out.tokens = [frame(_dumps(o)) for o in tokens]
    if flt.raw_record:
        out.tokens[0] = frame(flt.raw_record)
    elif flt.raw_content and tokens:
        marked = apply_patch(tokens[0], resolve_path(("$content",), kind), "@@RAW@@", False)
        out.tokens[0] = frame(_dumps(marked).replace(b'"@@RAW@@"', flt.raw_content))
    out.tail = [frame(_dumps(o)) for o in tail]
    if kind in ("chat", "text"):
        out.tail.append(b"data: [DONE]\n\n")
    return out


def _whole_answer(kind: Kind, text: str, model: str) -> bytes:
    """A non-streamed answer (stream: false) in the endpoint's own shape."""
    if kind == "llama":
        return _dumps({"content": text, "stop": True, "model": model})
    if kind == "chat":
        msg = {"role": "assistant", "content": text}
        return _dumps(
            {"model": model, "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}
        )
    if kind == "text":
        return _dumps(
            {"model": model, "choices": [{"index": 0, "text": text, "finish_reason": "stop"}]}
        )
    if kind == "ollama-chat":
        return _dumps(
            {
                "model": model,
                "message": {"role": "assistant", "content": text},
                "done": True,
                "done_reason": "stop",
            }
        )
    return _dumps({"model": model, "response": text, "done": True, "done_reason": "stop"})


def _normal_body(proto: Protocol, endpoint: str, req: Any, model: str) -> Any:
    if endpoint == "models":
        entry: dict[str, Any] = {
            "id": model,
            "object": "model",
            "created": 0,
            "owned_by": "llamacpp" if proto == "llama-server" else "fault",
        }
        if proto == "llama-server":
            entry["meta"] = {
                "vocab_type": 2,
                "n_vocab": 262144,
                "n_ctx_train": 32768,
                "n_embd": 640,
                "n_params": 268098176,
                "size": 253194240,
            }
        return {"object": "list", "data": [entry]}
    if endpoint == "props":
        return {
            "default_generation_settings": {
                "n_ctx": 4096,
                "params": {"n_predict": -1, "temperature": 0.8},
            },
            "total_slots": 1,
            "model_path": f"/models/{model}.gguf",
            "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
            "modalities": {"vision": False, "audio": False},
            "build_info": "b6123-4a5b6c7d",
        }
    if endpoint == "health":
        return {"status": "ok"}
    if endpoint == "tokenize":
        text = req.get("content") if isinstance(req, dict) else ""
        special = not isinstance(req, dict) or req.get("add_special", True)
        n = len(str(text or "").split()) + (1 if special else 0)
        return {"tokens": list(range(1000, 1000 + n))}
    if endpoint == "template":
        msgs = req.get("messages") if isinstance(req, dict) else None
        parts = [str(m.get("content", "")) for m in msgs or [] if isinstance(m, dict)]
        return {"prompt": "<start_of_turn>user\n" + "\n".join(parts) + "<end_of_turn>\n"}
    if endpoint == "version":
        return {"version": "0.12.3"}
    details = {
        "parent_model": "",
        "format": "gguf",
        "family": "gemma3",
        "families": ["gemma3"],
        "parameter_size": "268.10M",
        "quantization_level": "Q4_K_M",
    }
    if endpoint == "tags":
        return {
            "models": [
                {
                    "name": model,
                    "model": model,
                    "modified_at": "2026-01-01T00:00:00Z",
                    "size": 253194240,
                    "digest": "0" * 64,
                    "details": details,
                }
            ]
        }
    if endpoint == "show":
        return {
            "modelfile": "FROM fault",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": details,
            "model_info": {
                "general.architecture": "gemma3",
                "general.parameter_count": 268098176,
                "gemma3.context_length": 32768,
            },
            "capabilities": ["completion"],
        }
    return {}


_ROUTES: dict[Protocol, dict[tuple[str, str], str]] = {
    "openai": {
        ("GET", "/v1/models"): "models",
        ("POST", "/v1/chat/completions"): "stream:chat",
        ("POST", "/v1/completions"): "stream:text",
    },
    "llama-server": {
        ("GET", "/v1/models"): "models",
        ("GET", "/models"): "models",
        ("GET", "/props"): "props",
        ("GET", "/health"): "health",
        ("POST", "/tokenize"): "tokenize",
        ("POST", "/apply-template"): "template",
        ("POST", "/completion"): "stream:llama",
        ("POST", "/v1/chat/completions"): "stream:chat",
        ("POST", "/v1/completions"): "stream:text",
    },
    "ollama": {
        ("GET", "/"): "root",
        ("GET", "/api/version"): "version",
        ("GET", "/api/tags"): "tags",
        ("POST", "/api/show"): "show",
        ("POST", "/api/chat"): "stream:ollama-chat",
        ("POST", "/api/generate"): "stream:ollama-generate",
    },
}


# ---------------------------------------------------------------------------------------
# The server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    default_mode: str
    config: ServerConfig
    seen: list[Seen]
    closing: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up on a hostile mode is expected: print nothing (the test
        reads the client's output, which must hold no traceback)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # a socket timeout, so a client that stops reading cannot block a writer forever
    timeout = 120.0
    server: _Server
    _fault_headers: tuple[tuple[str, str], ...] = ()

    def setup(self) -> None:
        super().setup()
        # paced tokens must leave at once, not wait behind the client's delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._guarded("GET")

    def do_POST(self) -> None:
        self._guarded("POST")

    def _guarded(self, method: str) -> None:
        try:
            self._serve(method)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True  # the client left (or hung): nothing more to send

    # -- plumbing -------------------------------------------------------------------------
    def _read_body(self) -> Any:
        try:
            length = min(int(self.headers.get("Content-Length") or 0), 16 * 1024 * 1024)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send(
        self,
        status: int,
        body: bytes | None,
        ctype: str,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body or b"")))
        for k, v in (*extra, *self._fault_headers):
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        if data:
            self._raw(b"%x\r\n%b\r\n" % (len(data), data))

    def _start_chunked(self, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in self._fault_headers:
            self.send_header(k, v)
        self.end_headers()

    def _reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), not a FIN."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # the makefile reference would keep the fd open
            sock.close()
        except OSError:
            pass

    def _wait(self, seconds: float) -> None:
        """Sleep up to `seconds`; return early when the client leaves or the server closes."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not self.server.closing.is_set():
            try:
                ready, _, _ = select.select([self.connection], [], [], min(left, 0.1))
                if ready and not self.connection.recv(1, socket.MSG_PEEK):
                    return  # orderly close by the client
            except OSError:
                return

    def _paced(self, stream: _Stream, tokens: list[bytes] | None = None) -> None:
        """Head now, each token on its absolute schedule, as chunked records."""
        cfg = self.server.config
        t0 = time.perf_counter()
        for rec in stream.head:
            self._chunk(rec)
        for i, rec in enumerate(stream.tokens if tokens is None else tokens):
            delay = t0 + cfg.ttft_s + i * cfg.itl_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self._chunk(rec)

    # -- dispatch -------------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        mode = self.server.default_mode
        if path.startswith("/fault/"):
            mode, _, rest = path[len("/fault/") :].partition("/")
            path = "/" + rest
        req = self._read_body() if method == "POST" else None
        flt = FAULTS_BY_NAME.get(mode)
        if flt is None:
            self._send(404, _dumps({"error": f"unknown fault mode {mode!r}"}), "application/json")
            return
        route = _ROUTES[flt.protocol].get((method, path.rstrip("/") or "/"))
        self.server.seen.append(Seen(method, path, mode, route or "", req))
        if route is None:
            self._send(
                404, _dumps({"error": {"message": f"no route {method} {path}"}}), "application/json"
            )
            return
        endpoint, _, kind = route.partition(":")
        hit = flt.where in ("any", endpoint)
        self._fault_headers = _FAULT_HEADERS.get(flt.transport, ()) if hit else ()
        cfg = self.server.config
        default = OLLAMA_MODEL if flt.protocol == "ollama" else DEFAULT_MODEL
        # a fault's model name is served where models are listed, and echoed in streams
        model = flt.model or default
        if hit and flt.transport and self._transport(flt, None):
            return
        if hit and flt.status:
            extra = (("Retry-After", "20"),) if flt.status in (429, 503) else ()
            self._send(flt.status, flt.body, flt.content_type, extra)
            return
        if endpoint == "root":
            self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
            return
        if endpoint != "stream":
            body = _normal_body(flt.protocol, endpoint, req, model)
            if hit and flt.patch is not None and flt.patch.target == "body":
                body = apply_patch(body, flt.patch.path, flt.patch.value, flt.patch.delete)
            self._send(200, _dumps(body), "application/json")
            return
        k = cast(Kind, kind)
        stream = _build_stream(k, flt.protocol, req, flt if hit else _PLAIN, cfg, model)
        wants_stream = req.get("stream", k.startswith("ollama")) if isinstance(req, dict) else True
        if not wants_stream:
            text = cfg.token * len(stream.tokens)
            self._send(200, _whole_answer(k, text, model), "application/json")
            return
        if hit and flt.transport and self._transport(flt, stream):
            return
        self._start_chunked(stream.ctype)
        self._paced(stream)
        for rec in stream.tail:
            self._chunk(rec)
        self._raw(b"0\r\n\r\n")

    # -- transports -----------------------------------------------------------------------
    def _transport(self, flt: Fault, stream: _Stream | None) -> bool:
        """Perform `flt.transport`; False when it only applies once the answer exists."""
        t = flt.transport
        cfg = self.server.config
        if t == "reset":
            self._reset()
        elif t == "stall":
            self._wait(cfg.stall_s)
            self.close_connection = True
        elif t == "non-http":
            self._raw(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n")
            self.close_connection = True
        elif t == "garbage":
            self._raw(bytes((i * 131 + 7) % 256 for i in range(4096)))
            self.close_connection = True
        elif t in _FAULT_HEADERS or stream is None:
            return False  # header faults ride on the normal answer; the rest need it
            return False
        else:
            self._stream_transport(t, flt, stream)
        return True

    def _stream_transport(self, t: str, flt: Fault, stream: _Stream) -> None:
        cfg = self.server.config
        half = stream.tokens[: max(len(stream.tokens) // 2, 1)]
        if t == "reset-mid":
            self._start_chunked(stream.ctype)
            self._paced(stream, stream.tokens[:2])
            self._reset()
        elif t == "stall-mid":
            self._start_chunked(stream.ctype)
            self._paced(stream, stream.tokens[:2])
            self._wait(cfg.stall_s)
            self.close_connection = True
        elif t == "cut-close":
            self._raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: %b\r\nConnection: close\r\n\r\n"
                % stream.ctype.encode()
            )
            for rec in stream.head + half:
                self._raw(rec)
                time.sleep(cfg.itl_s)
            self.close_connection = True
        elif t == "cut-chunked":
            self._start_chunked(stream.ctype)
            self._paced(stream, half)
            self.close_connection = True
        elif t == "bad-chunk-size":
            self._start_chunked(stream.ctype)
            self._paced(stream, stream.tokens[:2])
            self._raw(b"zz\r\nnot a chunk\r\n")
            self.close_connection = True
        elif t == "length-short":
            self._raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: %b\r\nContent-Length: %d\r\n\r\n"
                % (stream.ctype.encode(), len(stream.body()) + 100_000)
            )
            for rec in stream.head + stream.tokens[:2]:
                self._raw(rec)
            self.close_connection = True
        elif t == "one-write":
            body = stream.body()
            self._raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: %b\r\nContent-Length: %d\r\n\r\n%b"
                % (stream.ctype.encode(), len(body), body)
            )
        elif t == "byte-at-a-time":
            self._start_chunked(stream.ctype)
            body = stream.body()
            for i in range(len(body)):
                self._chunk(body[i : i + 1])
            self._raw(b"0\r\n\r\n")
        elif t == "gzip":
            body = gzip.compress(stream.body())
            self._send(200, body, stream.ctype, (("Content-Encoding", "gzip"),))
        elif t == "html-200":
            self._send(
                200, b"<!doctype html><html><body>Welcome to nginx!</body></html>", "text/html"
            )
        elif t == "json-not-stream":
            self._send(
                200,
                _dumps(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "hi"},
                                "finish_reason": "stop",
                            }
                        ],
                        "message": {"role": "assistant", "content": "hi"},
                        "response": "hi",  # /api/generate's field for the same text
                        "done": True,
                    }
                ),
                "application/json",
            )
        elif t == "bom":
            self._start_chunked(stream.ctype)
            self._chunk(b"\xef\xbb\xbf")
            self._paced(stream)
            for rec in stream.tail:
                self._chunk(rec)
            self._raw(b"0\r\n\r\n")
        elif t == "no-final-newline":
            self._start_chunked(stream.ctype)
            self._paced(stream)
            for rec in stream.tail:
                self._chunk(rec.rstrip(b"\n"))
            self._raw(b"0\r\n\r\n")
        elif t == "no-final-record":
            self._start_chunked(stream.ctype)
            self._paced(stream)
            self._raw(b"0\r\n\r\n")
        elif t == "keepalive-forever":
            self._start_chunked(stream.ctype)
            beat = b": keep-alive\n\n" if stream.ctype == "text/event-stream" else b"\n"
            self._until(lambda: self._chunk(beat), cfg.keepalive_every_s)
            self.close_connection = True
        elif t == "endless":
            self._start_chunked(stream.ctype)
            for rec in stream.head:
                self._chunk(rec)
            unit = stream.tokens[-1]
            block = unit * max(1, 65536 // len(unit))
            sent = 0

            def more() -> None:
                nonlocal sent
                self._chunk(block)
                sent += len(block)
                if sent > cfg.endless_max_bytes:
                    raise _Done

            self._until(more, 0.0)
            self.close_connection = True
        elif t == "huge-line":
            self._huge_line(flt, stream)
        else:  # pragma: no cover - a table error
            raise TokbenchError(f"unknown fault transport {t!r}")

    def _until(self, step: Any, every_s: float) -> None:
        """Repeat `step` every `every_s` until stall_s passes, the client leaves or the
        server closes."""
        end = time.monotonic() + self.server.config.stall_s
        try:
            while time.monotonic() < end and not self.server.closing.is_set():
                step()
                if every_s:
                    self._wait(min(every_s, end - time.monotonic()))
        except _Done:
            pass

    def _huge_line(self, flt: Fault, stream: _Stream) -> None:
        """The first token's content is `flt.size` bytes of text, sent in 1 MiB pieces."""
        first = stream.tokens[0]
        token = self.server.config.token
        marker = json.dumps(token).encode()
        at = first.find(marker)
        prefix, suffix = first[: at + 1], first[at + len(marker) - 1 :]
        self._start_chunked(stream.ctype)
        for rec in stream.head:
            self._chunk(rec)
        self._chunk(prefix)
        piece = b"a" * (1024 * 1024)
        left = flt.size
        while left > 0:
            self._chunk(piece[: min(left, len(piece))])
            left -= len(piece)
        self._chunk(suffix)
        for rec in stream.tokens[1:] + stream.tail:
            self._chunk(rec)
        self._raw(b"0\r\n\r\n")


class _Done(Exception):
    """Ends an `_until` loop early."""


_PLAIN = Fault("plain", "openai", "baseline", "no fault", "ok")


class FaultServer:
    """`with FaultServer("openai.ok") as srv:` then `srv.url_for("openai.usage-string")`.

    Thread-per-connection, bound to 127.0.0.1 on a free port. `seen` logs every request.
    """

    def __init__(
        self, mode: str = "openai.ok", *, config: ServerConfig | None = None, port: int = 0
    ) -> None:
        fault(mode)  # unknown modes fail here, not on the first request
        self._srv = _Server(("127.0.0.1", port), _Handler)
        self._srv.default_mode = mode
        self._srv.config = config or ServerConfig()
        self._srv.seen = []
        self._srv.closing = threading.Event()
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._started = False

    @property
    def mode(self) -> str:
        return self._srv.default_mode

    @property
    def config(self) -> ServerConfig:
        return self._srv.config

    @property
    def seen(self) -> list[Seen]:
        return self._srv.seen

    @property
    def port(self) -> int:
        return int(self._srv.server_address[1])

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.url_for(self.mode)

    def url_for(self, mode: str) -> str:
        """The base URL a client is given for `mode` (OpenAI kinds with /v1)."""
        flt = fault(mode)
        base = f"{self.root}/fault/{mode}"
        return base if flt.protocol == "ollama" else base + "/v1"

    def start(self) -> FaultServer:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def close(self) -> None:
        self._srv.closing.set()
        if self._started:
            self._srv.shutdown()
        self._srv.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.testing.faults --port 8099`: serve every mode until Ctrl-C."""
    import argparse
    import contextlib

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=8099)
    p.add_argument("--mode", default="openai.ok", help="the mode of URLs without /fault/")
    p.add_argument("--list", action="store_true", help="print every mode and exit")
    a = p.parse_args(argv)
    if a.list:
        for f in FAULTS:
            print(f"{f.name:<42} {f.klass:<13} {f.expect:<10} {f.description}")
        return
    with FaultServer(a.mode, port=a.port) as srv:
        print(f"serving {len(FAULTS)} fault modes at {srv.root}/fault/<mode>/", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
