"""Bench tests on Ollama's raw `/api/generate`."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from tokbench.backends.base import WORDS
from tokbench.backends.ollama import OllamaBackend
from tokbench.core.config import BenchTest
from tokbench.core.records import Sample
from tokbench.net.http import Client, ThreadClients, TransportError


class OllamaBench:
    """Ollama's raw `/api/generate`. Ollama has no tokenizer endpoint and no ignore_eos:
    prompt lengths are approximate (one word ~ one token, the server's count is reported)
    and an output that stops early is marked short."""

    kind = "ollama"

    def __init__(self, backend: OllamaBackend) -> None:
        self.backend = backend
        self.model = backend.model
        self._clients = ThreadClients(backend.client)

    @property
    def http(self) -> Client:
        return self._clients.get()

    def info(self) -> dict[str, Any]:
        return {**self.backend.describe(), "tokenizer": None}

    def close(self) -> None:
        self._clients.close()
        self.backend.close()

    def _generate(self, prompt: str, n: int) -> tuple[dict[str, Any], list[int], int, str | None]:
        body = {
            "model": self.model,
            "prompt": prompt,
            "raw": True,
            "stream": True,
            "options": {"num_predict": n, "temperature": 0},
        }
        final: dict[str, Any] = {}
        times: list[int] = []
        clock = time.perf_counter_ns
        t0 = clock()
        try:
            with self.http.request("POST", "/api/generate", body) as resp:
                if resp.status >= 400:
                    return {}, [], t0, f"HTTP {resp.status}: {resp.read()[:200]!r}"
                buf = b""
                while raw := resp.read1(65536):
                    t = clock()
                    lines = (buf + raw).split(b"\n")
                    buf = lines.pop()
                    for line in lines:
                        if line.strip():
                            obj = json.loads(line)
                            if obj.get("response"):
                                times.append(t)
                            if obj.get("done"):
                                final = obj
        except TransportError as exc:
            return {}, [], t0, str(exc)
        except ValueError as exc:
            return {}, [], t0, f"malformed stream line: {exc}"
        return final, times, t0, None

    def measure(self, test: BenchTest, rep: int) -> Sample:
        rng = random.Random(f"{test.name}/{rep}/{self.model}")
        depth = " ".join(rng.choice(WORDS) for _ in range(test.depth))
        if depth:
            self._generate(depth, 1)  # Ollama keeps the last prompt's KV: the context
        if test.kind == "pp":
            new = " ".join(rng.choice(WORDS) for _ in range(test.n))
            final, times, t0, error = self._generate(f"{depth} {new}" if depth else new, 1)
            if error or not times:
                return Sample(None, None, None, "error", error or "no token came back")
            n = final.get("prompt_eval_count")
            note = "prompt length approximate: Ollama has no tokenizer endpoint" + (
                f"; it evaluated {n} prompt tokens" if n != test.n else ""
            )
            ns = final.get("prompt_eval_duration")
            server = n / (ns / 1e9) if isinstance(n, int) and n and ns else None
            ttft_s = (times[0] - t0) / 1e9
            return Sample(
                test.n / ttft_s,
                server,
                n,
                "ok",
                note,
                ttft_ms=ttft_s * 1000,
                first_ns=t0,
                last_ns=times[0],
            )
        final, times, t0, error = self._generate(depth or rng.choice(WORDS), test.n)
        if error or not times:
            return Sample(None, None, None, "error", error or "no token came back")
        got = final.get("eval_count") or len(times)
        status = "ok" if got >= test.n else "short"
        short_note = (
            None
            if status == "ok"
            else f"only {got} of {test.n} tokens: Ollama cannot "
            "force the output length (no ignore_eos)"
        )
        ns = final.get("eval_duration")
        tps = (got - 1) / ((times[-1] - times[0]) / 1e9) if len(times) > 1 and got > 1 else None
        return Sample(
            tps,
            got / (ns / 1e9) if ns else None,
            got,
            status,
            short_note,
            ttft_ms=(times[0] - t0) / 1e6,
            first_ns=t0,
            last_ns=times[-1],
        )
