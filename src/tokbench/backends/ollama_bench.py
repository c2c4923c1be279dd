"""Bench tests on Ollama's raw `/api/generate`."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

from tokbench.backends import wire
from tokbench.backends.base import WORDS, decode_rate
from tokbench.backends.ollama import OllamaBackend
from tokbench.core.config import BenchTest
from tokbench.core.metrics import per_second
from tokbench.core.records import Sample
from tokbench.net.http import Client, ThreadClients, TransportError
from tokbench.net.lines import StreamLimitError, ndjson_lines
from tokbench.net.status import error_detail, explain_status


@dataclass(frozen=True, slots=True)
class Counts:
    """Ollama's final record: counts, and durations in ms (it sends nanoseconds)."""

    prompt_eval_count: int | None = None
    prompt_eval_ms: float | None = None
    eval_count: int | None = None
    eval_ms: float | None = None

    @classmethod
    def of(cls, final: dict[str, Any]) -> Counts:
        def ms(key: str) -> float | None:
            ns = wire.opt_number(final.get(key), key)
            return ns / 1e6 if ns else None

        return cls(
            wire.opt_count(final.get("prompt_eval_count"), "prompt_eval_count"),
            ms("prompt_eval_duration"),
            wire.opt_count(final.get("eval_count"), "eval_count"),
            ms("eval_duration"),
        )


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

    def _generate(self, prompt: str, n: int) -> tuple[Counts, list[int], int, str | None]:
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

        def record(line: bytes, t: int) -> str | None:
            obj = wire.obj(json.loads(line), "a stream record")
            if obj.get("error") is not None:
                return f"Ollama reported an error: {error_detail(line)}"
            if wire.opt_text(obj.get("response"), "response"):
                times.append(t)
            if obj.get("done") is True:
                final.update(obj)
            return None

        try:
            with self.http.request("POST", "/api/generate", body) as resp:
                if resp.status >= 400:
                    why = explain_status(
                        resp.status, resp.read(), self.backend.api_key_env, self.model
                    )
                    return Counts(), [], t0, why
                for t, line in ndjson_lines(resp.chunks(), self.backend.limits):
                    if error := record(line, t):
                        return Counts(), times, t0, error
            if not final:
                return Counts(), times, t0, "the stream ended before Ollama's final record"
            return Counts.of(final), times, t0, None
        except TransportError as exc:
            return Counts(), [], t0, str(exc)
        except wire.WireError as exc:
            return Counts(), [], t0, f"Ollama sent a malformed message: {exc}"
        except StreamLimitError as exc:
            return Counts(), [], t0, str(exc)
        except (ValueError, UnicodeDecodeError) as exc:
            return Counts(), [], t0, f"Ollama sent a malformed stream line: {exc}"
        except RecursionError:
            return Counts(), [], t0, "Ollama sent JSON nested too deep to be a stream line"

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
            n = final.prompt_eval_count
            note = "prompt length approximate: Ollama has no tokenizer endpoint" + (
                f"; it evaluated {n} prompt tokens" if n != test.n else ""
            )
            server = per_second(n, final.prompt_eval_ms)
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
        got = final.eval_count or len(times)
        status = "ok" if got >= test.n else "short"
        short_note = (
            None
            if status == "ok"
            else f"only {got} of {test.n} tokens: Ollama cannot "
            "force the output length (no ignore_eos)"
        )
        notes = [short_note] if short_note else []
        tps = decode_rate(got, times, notes)
        return Sample(
            tps,
            per_second(final.eval_count, final.eval_ms),
            got,
            status,
            "; ".join(notes) or None,
            ttft_ms=(times[0] - t0) / 1e6,
            first_ns=t0,
            last_ns=times[-1],
        )
