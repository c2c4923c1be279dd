"""Bench tests on Ollama's raw `/api/generate`."""

from __future__ import annotations

import random
import time

from tokbench.backends import replies
from tokbench.backends.base import WORDS, generation_sample
from tokbench.backends.ollama import Final, OllamaBackend, read_record
from tokbench.core.config import BenchTest
from tokbench.core.metrics import per_second
from tokbench.core.records import Sample, Target
from tokbench.net.http import Client, ThreadClients, TransportError
from tokbench.net.lines import StreamLimitError, ndjson_lines
from tokbench.net.status import explain_status


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

    def info(self) -> Target:
        return self.backend.describe().with_facts(tokenizer=None)

    def close(self) -> None:
        self._clients.close()
        self.backend.close()

    def _generate(self, prompt: str, n: int) -> tuple[Final | None, list[int], int, str | None]:
        body = {
            "model": self.model,
            "prompt": prompt,
            "raw": True,
            "stream": True,
            "options": {"num_predict": n, "temperature": 0},
        }
        final: Final | None = None
        times: list[int] = []
        t0 = time.perf_counter_ns()
        try:
            with self.http.request("POST", "/api/generate", body) as resp:
                if resp.status >= 400:
                    why = explain_status(
                        resp.status, resp.read(), self.backend.api_key_env, self.model
                    )
                    return None, [], t0, why
                for t, line in ndjson_lines(resp.chunks(), self.backend.limits):
                    r = read_record(line, generate=True)
                    if r.error:
                        return None, times, t0, r.error
                    if r.text:
                        times.append(t)
                    final = r.final or final
            if final is None:
                return None, times, t0, "the stream ended before Ollama's final record (done)"
            return final, times, t0, None
        except TransportError as exc:
            return None, [], t0, str(exc)
        except replies.WireError as exc:
            return None, [], t0, f"Ollama sent a malformed message: {exc}"
        except StreamLimitError as exc:
            return None, [], t0, str(exc)
        except (ValueError, UnicodeDecodeError) as exc:
            return None, [], t0, f"Ollama sent a malformed stream line: {exc}"
        except RecursionError:
            return None, [], t0, "Ollama sent JSON nested too deep to be a stream line"

    def measure(self, test: BenchTest, rep: int) -> Sample:
        rng = random.Random(f"{test.name}/{rep}/{self.model}")
        depth = " ".join(rng.choice(WORDS) for _ in range(test.depth))
        if depth:
            self._generate(depth, 1)  # Ollama keeps the last prompt's KV: the context
        if test.kind == "pp":
            new = " ".join(rng.choice(WORDS) for _ in range(test.n))
            final, times, t0, error = self._generate(f"{depth} {new}" if depth else new, 1)
            if error or not times or final is None:
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
        if error or not times or final is None:
            return Sample(None, None, None, "error", error or "no token came back")
        return generation_sample(
            test.n,
            final.eval_count or len(times),
            times,
            t0,
            per_second(final.eval_count, final.eval_ms),
            "Ollama cannot force the output length (no ignore_eos)",
        )
