"""How one benchmark measurement is made on each kind of target.

A test names what is measured: `pp512` is the prefill of exactly 512 prompt tokens,
`tg128` the generation of exactly 128 tokens, `@ d4096` with 4096 tokens already
in the context (built first, not timed). Rates are tokens / seconds of the named
part only, as llama-bench defines them.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tokbench.errors import TokbenchError
from tokbench.http import Client, TransportError
from tokbench.sse import SSEParser

Kind = Literal["pp", "tg"]


@dataclass(frozen=True, slots=True)
class BenchTest:
    kind: Kind
    n: int
    depth: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}{self.n}" + (f" @ d{self.depth}" if self.depth else "")


@dataclass(frozen=True, slots=True)
class Sample:
    tps: float | None  # client clock: tokens of the named part / its seconds
    server_tps: float | None  # the engine's or server's own clock, when it reports one
    tokens: int | None  # tokens the named part really had (verified where possible)
    status: str  # ok | short | error
    note: str | None = None
    ttft_ms: float | None = None
    first_ns: int | None = None  # monotonic send time, for concurrency arithmetic
    last_ns: int | None = None  # monotonic time of the last token


class BenchEngine(Protocol):
    kind: str
    model: str

    def info(self) -> dict[str, Any]: ...
    def measure(self, test: BenchTest, rep: int) -> Sample: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------
# Embedded llama.cpp: drive the context directly, like llama-bench (random tokens, no
# sampling), so the rate is the engine's, not our loop's.


class EmbeddedBench:
    kind = "embedded"

    def __init__(self, backend: Any) -> None:
        self.backend = backend  # an EmbeddedBackend
        self.llm = backend.llm
        # the file's name: two quants of one model share general.name but not a file name
        self.model = backend.model_path.stem
        self._n_vocab = self.llm.n_vocab()

    def info(self) -> dict[str, Any]:
        return {**self.backend.describe(), "threads": self.backend.threads}

    def close(self) -> None:
        self.backend.close()

    def _tokens(self, n: int, rng: random.Random) -> list[int]:
        # ids from the middle of the vocabulary: ordinary text pieces, never control tokens
        lo, hi = min(1000, self._n_vocab // 4), self._n_vocab - 1
        return [rng.randint(lo, hi) for _ in range(n)]

    def _decode(self, tokens: list[int]) -> None:
        """One llama_decode of these tokens, then wait for it (as llama-bench does)."""
        import llama_cpp

        arr = (llama_cpp.llama_token * len(tokens))(*tokens)
        rc = llama_cpp.llama_decode(self.llm.ctx, llama_cpp.llama_batch_get_one(arr, len(tokens)))
        if rc != 0:
            raise TokbenchError(f"llama_decode failed ({rc})")
        llama_cpp.llama_synchronize(self.llm.ctx)

    def measure(self, test: BenchTest, rep: int) -> Sample:
        import llama_cpp

        llm = self.llm
        need = test.depth + test.n + 1
        if need > llm.n_ctx():
            return Sample(
                None,
                None,
                None,
                "error",
                f"needs {need} tokens of context, the engine has {llm.n_ctx()}",
            )
        rng = random.Random(f"{test.name}/{rep}")
        llm.reset()
        llm._ctx.kv_cache_clear()
        # the context (BOS + depth), in batches the context accepts: not timed
        context = [llm.token_bos(), *self._tokens(test.depth, rng)]
        step = llm.n_batch
        for i in range(0, len(context), step):
            self._decode(context[i : i + step])
        llama_cpp.llama_perf_context_reset(llm.ctx)
        tokens = self._tokens(test.n, rng)
        clock = time.perf_counter_ns
        if test.kind == "pp":
            t0 = clock()
            for i in range(0, len(tokens), step):
                self._decode(tokens[i : i + step])
            t1 = clock()
            perf = llama_cpp.llama_perf_context(llm.ctx)
            server, counted = _rate(perf.n_p_eval, perf.t_p_eval_ms), perf.n_p_eval
        else:
            t0 = clock()
            for tok in tokens:
                self._decode([tok])
            t1 = clock()
            perf = llama_cpp.llama_perf_context(llm.ctx)
            server, counted = _rate(perf.n_eval, perf.t_eval_ms), perf.n_eval
        note = None if counted == test.n else f"the engine counted {counted} tokens"
        return Sample(
            test.n / ((t1 - t0) / 1e9), server, counted, "ok", note, first_ns=t0, last_ns=t1
        )


def _rate(n: int | None, ms: float | None) -> float | None:
    return n / (ms / 1000) if n and ms and ms > 0 else None


# ---------------------------------------------------------------------------------------
# HTTP servers: raw completions (no chat template), prompts of exactly N tokens built with
# the server's own tokenizer, output length forced where the server allows it.

# Words that are one token in common vocabularies; random order makes every prompt's
# first tokens differ, so no repetition can reuse another's prompt cache.
_WORDS = tuple(
    """the of and to in is was for on are with as his they at be this from have or by one
    had not but what all were when we there can an your which their said if do will each
    about how up out them then she many some so these would other into has more her two
    like him see time could no make than first been its who now people my made over did
    down only way find use may water long little very after words called just where most
    know get through back much before go good new write our used me man too any day same
    right look think also around another came come work three word must because does part
    """.split()
)


class _ThreadClients:
    """One HTTP connection per thread (http.client is not thread-safe): the backend's own
    for the main thread, a clone for each concurrency stream, all closed together."""

    def __init__(self, main: Client) -> None:
        self._main = main
        self._local = threading.local()
        self._clones: list[Client] = []

    def get(self) -> Client:
        if threading.current_thread() is threading.main_thread():
            return self._main
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._main.clone()
            self._clones.append(client)
        return client

    def close(self) -> None:
        for c in self._clones:
            c.close()


class HttpBench:
    """OpenAI-compatible servers (llama-server, vLLM, llama-cpp-python...) via /v1/completions."""

    def __init__(self, backend: Any, *, prefix_cache: bool = False) -> None:
        self.backend = backend  # an OpenAIBackend (connection, model, flavor)
        self.kind = backend.kind
        self.model = backend.model
        self._clients = _ThreadClients(backend._http)
        self.prefix_cache = prefix_cache
        self._count_path = self._find_tokenizer()

    def info(self) -> dict[str, Any]:
        return {**self.backend.describe(), "tokenizer": self._count_path}

    @property
    def http(self) -> Client:
        return self._clients.get()

    def close(self) -> None:
        self._clients.close()
        self.backend.close()

    # tokenizer ------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> Any:
        with self.http.request("POST", path, body) as resp:
            data = resp.read()
            if resp.status >= 400:
                return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def _find_tokenizer(self) -> str | None:
        for path in ("/tokenize", "/extras/tokenize"):
            try:
                if self._count(path, "hello world") is not None:
                    return path
            except TransportError:
                continue
        return None

    def _count(self, path: str, text: str) -> int | None:
        if path == "/extras/tokenize":  # llama-cpp-python's server; counts include BOS
            obj = self._post(path, {"input": text, "model": self.model})
        else:  # llama-server (content) and vLLM (prompt)
            obj = self._post(
                path, {"content": text, "add_special": True, "model": self.model, "prompt": text}
            )
        if isinstance(obj, dict):
            if isinstance(obj.get("count"), int):
                return int(obj["count"])
            if isinstance(obj.get("tokens"), list):
                return len(obj["tokens"])
        return None

    def exact_text(self, n: int, rng: random.Random) -> tuple[str, int | None]:
        """A prompt text that the server tokenizes to exactly n tokens (BOS included)."""
        words = [rng.choice(_WORDS) for _ in range(n + 8)]
        if self._count_path is None:
            return " ".join(words[: max(n - 1, 1)]), None  # unverifiable: ~1 token a word
        k = max(n - 1, 1)
        for _ in range(30):
            c = self._count(self._count_path, " ".join(words[:k]))
            if c is None:
                return " ".join(words[:k]), None
            if c == n:
                return " ".join(words[:k]), c
            k = max(1, k + (n - c))
            if k > len(words):
                words += [rng.choice(_WORDS) for _ in range(k - len(words) + 8)]
        return " ".join(words[:k]), c

    # one request ----------------------------------------------------------------------
    def _complete(
        self, prompt: str, max_tokens: int, force: bool, cache: bool
    ) -> tuple[dict[str, Any], list[int], int, str | None]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "stream": True,
            "temperature": 0,
            "stream_options": {"include_usage": True},
        }
        if self.kind == "llama-server":
            body["cache_prompt"] = cache
        if force:
            body.update(ignore_eos=True, min_tokens=max_tokens)
        final: dict[str, Any] = {}
        times: list[int] = []
        clock = time.perf_counter_ns
        t0 = clock()
        error = None
        try:
            with self.http.request(
                "POST", "/v1/completions", body, accept="text/event-stream"
            ) as resp:
                if resp.status >= 400:
                    return {}, [], t0, f"HTTP {resp.status}: {resp.read()[:200]!r}"
                parser = SSEParser()
                while raw := resp.read1(65536):
                    t = clock()
                    for data in parser.feed(raw):
                        if data == b"[DONE]":
                            continue
                        obj = json.loads(data)
                        for choice in obj.get("choices") or []:
                            if choice.get("text"):
                                times.append(t)
                        for key in ("usage", "timings"):
                            if obj.get(key):
                                final[key] = obj[key]
        except TransportError as exc:
            error = str(exc)
        except ValueError as exc:
            error = f"malformed stream chunk: {exc}"
        return final, times, t0, error

    def measure(self, test: BenchTest, rep: int) -> Sample:
        rng = random.Random(f"{test.name}/{rep}/{self.model}")
        notes: list[str] = []
        depth_text = ""
        if test.depth:
            depth_text, _ = self.exact_text(test.depth, rng)
            # build the context first (not timed): the measured request reuses it
            self._complete(depth_text, 1, False, True)
        if test.kind == "pp":
            new_text, counted = self.exact_text(test.n, rng)
            prompt = (depth_text + " " + new_text) if depth_text else new_text
            final, times, t0, error = self._complete(
                prompt, 1, False, bool(test.depth) or self.prefix_cache
            )
            if error or not times:
                return Sample(None, None, None, "error", error or "no token came back")
            ttft_s = (times[0] - t0) / 1e9
            timings = final.get("timings") or {}
            measured_n = timings.get("prompt_n")
            if test.depth and timings and timings.get("cache_n", 0) < test.depth - 1:
                notes.append(f"server reused only {timings.get('cache_n')} context tokens")
            usage_n = (final.get("usage") or {}).get("prompt_tokens")
            if not test.depth and isinstance(usage_n, int) and usage_n != test.n:
                notes.append(f"server counted {usage_n} prompt tokens")
            if counted is None:
                notes.append("prompt length unverified (no tokenizer endpoint)")
            server = _rate(measured_n, timings.get("prompt_ms"))
            return Sample(
                test.n / ttft_s,
                server,
                measured_n or usage_n,
                "ok",
                "; ".join(notes) or None,
                ttft_ms=ttft_s * 1000,
                first_ns=t0,
                last_ns=times[0],
            )
        prompt = depth_text or rng.choice(_WORDS)
        final, times, t0, error = self._complete(
            prompt, test.n, True, bool(test.depth) or self.prefix_cache
        )
        if error or not times:
            return Sample(None, None, None, "error", error or "no token came back")
        usage = final.get("usage") or {}
        timings = final.get("timings") or {}
        got = usage.get("completion_tokens") or timings.get("predicted_n") or len(times)
        status = "ok" if got >= test.n else "short"
        if status == "short":
            notes.append(f"only {got} of {test.n} tokens: the server stopped early")
        tps = (got - 1) / ((times[-1] - times[0]) / 1e9) if len(times) > 1 and got > 1 else None
        server = _rate(timings.get("predicted_n"), timings.get("predicted_ms"))
        return Sample(
            tps,
            server,
            got,
            status,
            "; ".join(notes) or None,
            ttft_ms=(times[0] - t0) / 1e6,
            first_ns=t0,
            last_ns=times[-1],
        )


class OllamaBench:
    """Ollama's raw `/api/generate`. Ollama has no tokenizer endpoint and no ignore_eos:
    prompt lengths are approximate (one word ~ one token, the server's count is reported)
    and an output that stops early is marked short."""

    kind = "ollama"

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.model = backend.model
        self._clients = _ThreadClients(backend._http)

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
        depth = " ".join(rng.choice(_WORDS) for _ in range(test.depth))
        if depth:
            self._generate(depth, 1)  # Ollama keeps the last prompt's KV: the context
        if test.kind == "pp":
            new = " ".join(rng.choice(_WORDS) for _ in range(test.n))
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
        final, times, t0, error = self._generate(depth or rng.choice(_WORDS), test.n)
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


def open_bench_engine(backend: Any, prefix_cache: bool) -> BenchEngine:
    from tokbench.backends.embedded import EmbeddedBackend
    from tokbench.backends.ollama import OllamaBackend
    from tokbench.backends.openai import OpenAIBackend

    if isinstance(backend, EmbeddedBackend):
        return EmbeddedBench(backend)
    if isinstance(backend, OllamaBackend):
        return OllamaBench(backend)
    if isinstance(backend, OpenAIBackend):
        return HttpBench(backend, prefix_cache=prefix_cache)
    raise TokbenchError(f"`tokbench bench` does not support {backend.kind} targets")
