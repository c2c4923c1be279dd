"""A stand-in for llama-server, for tune's process tests: `--help` prints a help text that
names --model and --port; otherwise it records its pid and serves on --port:

  FAKE_MODE=fail   GETs answer 200, every completion 500 (each candidate fails fast)
  FAKE_MODE=hang   GETs answer 200, a completion never answers
  FAKE_MODE=sick   nothing answers /health (the process just sleeps)

FAKE_PIDS names a file each started process appends its pid to.
"""

from __future__ import annotations

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HELP = """usage: llama-server [options]
-m,    --model FNAME                    model path
       --port PORT                      port to listen (default: 8080)
-fa,   --flash-attn [on|off|auto]       set Flash Attention use ('on', 'off', or 'auto')
"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:  # /health, /props, /v1/models: one answer fits them all
        self._answer(200, b'{"status":"ok","data":[{"id":"fake"}]}')

    def do_POST(self) -> None:
        if os.environ.get("FAKE_MODE") == "hang":
            time.sleep(3600)
        self._answer(500, b'{"error":{"message":"fake server refuses"}}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str]) -> None:
    if "--help" in argv:
        print(HELP)
        return
    with Path(os.environ["FAKE_PIDS"]).open("a") as f:
        f.write(f"{os.getpid()}\n")
    if os.environ.get("FAKE_MODE") == "sick":
        time.sleep(3600)
        return
    port = int(argv[argv.index("--port") + 1])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
