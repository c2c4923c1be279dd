"""A loopback server that replays recorded wire transcripts with realistic pacing.

Routes map (method, path) to a reply: fixed JSON, or a transcript file streamed event
by event (SSE events end with a blank line, NDJSON records with a newline), the first
after `ttft_s` and then one every `itl_s`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TRANSCRIPTS = Path(__file__).parent / "transcripts"


@dataclass
class Stream:
    transcript: str
    ttft_s: float = 0.1
    itl_s: float = 0.01

    def events(self) -> tuple[str, list[bytes]]:
        raw = (TRANSCRIPTS / self.transcript).read_bytes()
        if self.transcript.endswith(".sse"):
            return "text/event-stream", [e + b"\n\n" for e in raw.split(b"\n\n") if e]
        return "application/x-ndjson", [line + b"\n" for line in raw.split(b"\n") if line]


Reply = Stream | dict[str, Any] | list[Any] | tuple[int, Any]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, method: str) -> None:
        t0 = time.perf_counter()
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((method, self.path, json.loads(body) if body else None))
        reply = self.server.routes.get((method, self.path))
        if reply is None:
            return self._json(404, {"error": "not found"})
        if isinstance(reply, tuple):
            return self._json(*reply)
        if not isinstance(reply, Stream):
            return self._json(200, reply)
        ctype, events = reply.events()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, event in enumerate(events):
            delay = t0 + reply.ttft_s + i * reply.itl_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.wfile.write(b"%x\r\n%b\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._reply("GET")

    def do_POST(self) -> None:
        self._reply("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[tuple[str, str], Reply]
    seen: list[tuple[str, str, Any]]


class ReplayServer:
    def __init__(self, routes: dict[tuple[str, str], Reply]) -> None:
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.routes = routes
        self._srv.seen = []
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}"

    @property
    def seen(self) -> list[tuple[str, str, Any]]:
        return self._srv.seen

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.shutdown()
        self._srv.server_close()


# What each kind of server answers besides its chat stream (documented shapes).
def ollama_routes(chat: Stream, model: str = "qwen3:8b") -> dict[tuple[str, str], Reply]:
    return {
        ("GET", "/api/version"): {"version": "0.12.6"},
        ("GET", "/api/tags"): {
            "models": [
                {
                    "name": model,
                    "model": model,
                    "modified_at": "2026-11-01T10:00:00Z",
                    "size": 5225376047,
                    "digest": "500a1f067a9f",
                    "details": {
                        "format": "gguf",
                        "family": "qwen3",
                        "families": ["qwen3"],
                        "parameter_size": "8.2B",
                        "quantization_level": "Q4_K_M",
                    },
                }
            ]
        },
        ("POST", "/api/show"): {
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen3",
                "families": ["qwen3"],
                "parameter_size": "8.2B",
                "quantization_level": "Q4_K_M",
            },
            "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
            "capabilities": ["completion", "tools", "thinking"],
        },
        ("POST", "/api/chat"): chat,
        ("GET", "/v1/models"): {"object": "list", "data": [{"id": model, "object": "model"}]},
    }


def llama_server_routes(chat: Stream) -> dict[tuple[str, str], Reply]:
    model = "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf"
    return {
        ("GET", "/props"): {
            "default_generation_settings": {"n_ctx": 4096, "params": {"temperature": 0.8}},
            "total_slots": 1,
            "model_path": f"/models/{model}",
            "build_info": "b6123-4a5b6c7d",
            "chat_template": "{{ messages }}",
        },
        ("GET", "/v1/models"): {"object": "list", "data": [{"id": model, "object": "model"}]},
        ("POST", "/v1/chat/completions"): chat,
        ("POST", "/apply-template"): {"prompt": "<｜User｜>hi<｜Assistant｜><think>\n"},
        ("POST", "/tokenize"): {"tokens": list(range(12))},
    }


def lmstudio_routes(chat: Stream) -> dict[tuple[str, str], Reply]:
    m = {
        "id": "qwen2.5-7b-instruct",
        "object": "model",
        "type": "llm",
        "publisher": "lmstudio",
        "arch": "qwen2",
        "compatibility_type": "gguf",
        "quantization": "Q4_K_M",
        "state": "loaded",
        "max_context_length": 32768,
    }
    return {
        ("GET", "/api/v0/models"): {"object": "list", "data": [m]},
        ("GET", "/api/v0/models/qwen2.5-7b-instruct"): m,
        ("GET", "/v1/models"): {"object": "list", "data": [{"id": m["id"], "object": "model"}]},
        ("POST", "/api/v0/chat/completions"): chat,
    }


def vllm_routes(chat: Stream) -> dict[tuple[str, str], Reply]:
    return {
        ("GET", "/version"): {"version": "0.11.2"},
        ("GET", "/v1/models"): {"object": "list", "data": [{"id": "Qwen/Qwen3-8B"}]},
        ("POST", "/v1/chat/completions"): chat,
    }


def sglang_routes(chat: Stream) -> dict[tuple[str, str], Reply]:
    return {
        ("GET", "/get_server_info"): {"version": "0.5.4", "model_path": "qwen/qwen2.5-7b-instruct"},
        ("GET", "/v1/models"): {"object": "list", "data": [{"id": "qwen/qwen2.5-7b-instruct"}]},
        ("POST", "/v1/chat/completions"): chat,
    }
