"""A loopback OpenAI-compatible server that knows the answers: it recognises each benchmark
item by its question, thinks aloud (reasoning_content, naming a wrong answer), then answers
right or wrong as told. Its accuracy on any set of items is known exactly in advance."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tokbench.evals.items import EvalItem

Reply = Callable[[EvalItem], str]


def right_answer(item: EvalItem) -> str:
    return f"Working it out step by step.\n\nThe answer is {item.answer}."


def wrong_answer(item: EvalItem) -> str:
    if item.choices:
        return f"The answer is {'B' if item.answer == 'A' else 'A'}."
    return "So the answer is 123456789."


class _Handler(BaseHTTPRequestHandler):
    server: _KeyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": "key-model", "object": "model"}]})

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        prompt = req["messages"][-1]["content"]
        item = next(i for i in self.server.items if i.question in prompt)
        self.server.asked.append(item.id)
        text = (right_answer if item.id in self.server.right else wrong_answer)(item)
        pieces = [("reasoning_content", f"Maybe {item.answer}9? Let me check. ")] + [
            ("content", w) for w in text.split(" ") for w in (w + " ",)
        ]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(obj: dict[str, Any]) -> None:
            data = b"data: " + json.dumps(obj).encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        try:
            for key, piece in pieces:
                if self.server.itl_s:
                    time.sleep(self.server.itl_s)
                send(chunk({key: piece}))
            send(chunk({}, "stop"))
            n = len(pieces)
            send(
                {
                    "choices": [],
                    "usage": {"prompt_tokens": 50, "completion_tokens": n, "total_tokens": 50 + n},
                }
            )
            data = b"data: [DONE]\n\n"
            self.wfile.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError):
            pass


class _KeyServer(ThreadingHTTPServer):
    daemon_threads = True
    items: list[EvalItem]
    right: set[str]
    asked: list[str]
    itl_s: float


@contextmanager
def key_server(items: list[EvalItem], right: set[str], itl_s: float = 0.0) -> Iterator[Any]:
    srv = _KeyServer(("127.0.0.1", 0), _Handler)
    srv.items, srv.right, srv.asked, srv.itl_s = items, right, [], itl_s
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        srv.url = f"http://127.0.0.1:{srv.server_address[1]}/v1"  # type: ignore[attr-defined]
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
