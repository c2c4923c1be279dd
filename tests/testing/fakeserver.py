"""A loopback OpenAI-compatible streaming server with exact, injected timing.

For tests and benchmarks: it streams `n_tokens` chunks, the first after `ttft_s`
and then one every `itl_s` (scheduled on absolute times, so sleeps don't drift),
or as fast as it can when `itl_s` is 0. `mode` injects failures.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeConfig:
    model: str = "fake-model"
    ttft_s: float = 0.0
    itl_s: float = 0.0
    n_tokens: int = 20
    token: str = "tok "
    thinking_tokens: int = 0  # sent first, as delta.reasoning_content
    usage: bool = True  # honour stream_options.include_usage
    prompt_tokens: int = 17
    batch: int = 1  # chunks per socket write (fast mode)
    # ok | unauthorized | no-stream | stall | bad-json | html
    mode: str = "ok"
    api_key: str = "good"  # the key accepted in "unauthorized" mode
    auth_header: str | None = None  # or this exact Authorization header (HTTP Basic...)
    stall_after: int = 3
    slots: int = 0  # streams served at once (0: any number); the rest queue: a known capacity


def _text_chunk(model: str, text: str, finish: str | None = None) -> bytes:
    obj = {
        "id": "cmpl-fake",
        "object": "text_completion",
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def fake_token_count(text: str) -> int:
    """The fake server's tokenizer: one token per word, plus BOS."""
    return len(text.split()) + 1


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    obj = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Without it the first chunk waits behind the headers for the client's delayed ACK:
        # ~40 ms of TTFT that no real (slower) server shows.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self, cfg: FakeConfig) -> bool:
        sent = self.headers.get("Authorization")
        return sent is not None and sent in (cfg.auth_header, f"Bearer {cfg.api_key}")

    def do_GET(self) -> None:
        cfg = self.server.config
        if cfg.mode == "html":
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif cfg.mode == "unauthorized" and not self._authorized(cfg):
            self._json(401, {"error": {"message": "Invalid API key"}})
        elif self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": cfg.model, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        t0 = time.perf_counter()
        cfg = self.server.config
        length = int(self.headers.get("Content-Length", 0))
        req = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(req)
        if cfg.mode == "unauthorized" and not self._authorized(cfg):
            return self._json(401, {"error": {"message": "Invalid API key"}})
        if self.path == "/tokenize":
            return self._json(200, {"tokens": list(range(fake_token_count(req["content"])))})
        if req.get("model") != cfg.model:
            return self._json(404, {"error": {"message": f"model {req.get('model')} not found"}})
        if cfg.mode == "no-stream":
            return self._json(200, {"choices": [{"message": {"content": "hi"}}]})
        if self.server.slots is None:
            return self._stream(req, t0)
        with self.server.slots:  # queued until a slot frees: the wait shows in TTFT
            self._stream(req, time.perf_counter())

    def _stream(self, req: dict[str, Any], t0: float) -> None:
        cfg = self.server.config
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")  # keep-alive, like real servers
        self.end_headers()
        raw_write = self.wfile.write

        def write(data: bytes) -> None:
            raw_write(b"%x\r\n%b\r\n" % (len(data), data))

        model = cfg.model
        prompt_tokens = cfg.prompt_tokens
        if self.path.endswith("/completions") and "chat" not in self.path:  # raw completions
            n = min(cfg.n_tokens, req.get("max_tokens") or cfg.n_tokens)
            chunks = [_text_chunk(model, "")] + [_text_chunk(model, cfg.token)] * n
            n_timed = n
            tail = [_text_chunk(model, "", "length")]
            prompt_tokens = fake_token_count(req.get("prompt") or "")
        else:
            chunks = [_chunk(model, {"role": "assistant", "content": ""})]
            chunks += [_chunk(model, {"reasoning_content": "hmm "})] * cfg.thinking_tokens
            chunks += [_chunk(model, {"content": cfg.token})] * cfg.n_tokens
            n_timed = cfg.thinking_tokens + cfg.n_tokens
            tail = [_chunk(model, {}, "stop")]
        if cfg.usage and (req.get("stream_options") or {}).get("include_usage"):
            usage: dict[str, Any] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": n_timed,
                "total_tokens": prompt_tokens + n_timed,
            }
            if cfg.thinking_tokens:
                usage["completion_tokens_details"] = {"reasoning_tokens": cfg.thinking_tokens}
            tail.append(
                b"data: "
                + json.dumps({"choices": [], "model": model, "usage": usage}).encode()
                + b"\n\n"
            )
        tail.append(b"data: [DONE]\n\n")
        try:
            write(chunks[0])
            timed = chunks[1:]
            if cfg.itl_s == 0 and cfg.ttft_s == 0:
                for i in range(0, len(timed), cfg.batch):
                    write(b"".join(timed[i : i + cfg.batch]))
            else:
                for i, chunk in enumerate(timed):
                    if cfg.mode == "stall" and i == cfg.stall_after:
                        self.server.closing.wait(3600)
                        self.close_connection = True
                        return
                    if cfg.mode == "bad-json" and i == cfg.stall_after:
                        tail = [b"data: {not json\n\n"]
                        break
                    due = t0 + cfg.ttft_s + i * cfg.itl_s
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    write(chunk)
            write(b"".join(tail))
            raw_write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # the default backlog of 5 drops the SYNs of a burst of streams: 1 s retransmits
    request_queue_size = 1024
    config: FakeConfig
    requests: list[dict[str, Any]]
    closing: threading.Event
    slots: threading.Semaphore | None


class FakeServer:
    """`with FakeServer(FakeConfig(...)) as srv: srv.url` (http://127.0.0.1:PORT/v1)."""

    def __init__(self, config: FakeConfig | None = None, port: int = 0) -> None:
        self._srv = _Server(("127.0.0.1", port), _Handler)
        self._srv.config = config or FakeConfig()
        self._srv.requests = []
        self._srv.closing = threading.Event()
        slots = self._srv.config.slots
        self._srv.slots = threading.BoundedSemaphore(slots) if slots > 0 else None
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def config(self) -> FakeConfig:
        return self._srv.config

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._srv.requests

    @property
    def url(self) -> str:
        host, port = self._srv.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.closing.set()
        self._srv.shutdown()
        self._srv.server_close()


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.testing.fakeserver --port 8099 --n-tokens 1000 --itl-ms 20`"""
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=8099)
    p.add_argument("--n-tokens", type=int, default=20)
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--itl-ms", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=1, help="chunks per write when unpaced")
    p.add_argument("--no-usage", action="store_true")
    a = p.parse_args(argv)
    cfg = FakeConfig(
        ttft_s=a.ttft_ms / 1000,
        itl_s=a.itl_ms / 1000,
        n_tokens=a.n_tokens,
        batch=a.batch,
        usage=not a.no_usage,
    )
    with FakeServer(cfg, port=a.port) as srv:
        print(f"serving {srv.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
