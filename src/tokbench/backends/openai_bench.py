"""Bench tests on OpenAI-compatible servers: raw `/v1/completions` (no chat template),
prompts of exactly N tokens built with the server's own tokenizer, output length forced
where the server allows it (`ignore_eos`, `min_tokens`)."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

from tokbench.backends import replies
from tokbench.backends.base import WORDS, generation_sample
from tokbench.backends.openai import OpenAIBackend, not_streaming, usage_counts
from tokbench.core.config import BenchTest
from tokbench.core.metrics import per_second
from tokbench.core.records import Sample, Target
from tokbench.net.http import Client, ThreadClients, TransportError
from tokbench.net.lines import StreamLimitError, sse_data
from tokbench.net.status import error_detail, explain_status


@dataclass(frozen=True, slots=True)
class Final:
    """What a completion's last chunks said: OpenAI `usage` and llama-server `timings`."""

    usage_prompt: int | None = None
    usage_completion: int | None = None
    prompt_n: int | None = None
    prompt_ms: float | None = None
    cache_n: int | None = None
    predicted_n: int | None = None
    predicted_ms: float | None = None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Final:
        timings = raw.get("timings") or {}
        prompt, completion, _thinking = usage_counts(raw.get("usage"))  # the run's reader
        return cls(
            prompt.value if prompt else None,
            completion.value if completion else None,
            replies.opt_count(timings.get("prompt_n"), "timings.prompt_n"),
            replies.opt_number(timings.get("prompt_ms"), "timings.prompt_ms"),
            replies.opt_count(timings.get("cache_n"), "timings.cache_n"),
            replies.opt_count(timings.get("predicted_n"), "timings.predicted_n"),
            replies.opt_number(timings.get("predicted_ms"), "timings.predicted_ms"),
        )


class CompletionsBench:
    """OpenAI-compatible servers (llama-server, vLLM, llama-cpp-python...) via /v1/completions."""

    def __init__(self, backend: OpenAIBackend, *, prefix_cache: bool = False) -> None:
        self.backend = backend
        self.kind = backend.kind
        self.model = backend.model
        self._clients = ThreadClients(backend.client)
        self.prefix_cache = prefix_cache
        self._count_path = self._find_tokenizer()

    def info(self) -> Target:
        return self.backend.describe().with_facts(tokenizer=self._count_path)

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
        return replies.loads(data)

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
        words = [rng.choice(WORDS) for _ in range(n + 8)]
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
                words += [rng.choice(WORDS) for _ in range(k - len(words) + 8)]
        return " ".join(words[:k]), c

    # one request ----------------------------------------------------------------------
    def _complete(
        self, prompt: str, max_tokens: int, force: bool, cache: bool
    ) -> tuple[Final, list[int], int, str | None]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "stream": True,
            "temperature": 0,
            "stream_options": {"include_usage": True},
        }
        body.update(self.backend.cache_fields(cache))  # vLLM: else reruns hit its cache
        if force:
            body.update(ignore_eos=True, min_tokens=max_tokens)
        raw_final: dict[str, Any] = {}
        times: list[int] = []
        clock = time.perf_counter_ns
        t0 = clock()
        try:
            with self.http.request(
                "POST", "/v1/completions", body, accept="text/event-stream"
            ) as resp:
                if resp.status >= 400:
                    why = explain_status(
                        resp.status, resp.read(), self.backend.api_key_env, self.model
                    )
                    return Final(), [], t0, why
                if "text/event-stream" not in resp.content_type:
                    return Final(), [], t0, not_streaming(resp.content_type)
                ended = False  # [DONE] or a finish_reason: the stream was not cut short
                for t, data in sse_data(resp.chunks(), self.backend.limits):
                    if data == b"[DONE]":
                        ended = True
                        continue
                    chunk = replies.obj(json.loads(data), "a stream chunk")
                    if chunk.get("error") is not None:
                        detail = error_detail(data)
                        return Final(), times, t0, f"the server reported an error: {detail}"
                    choices = replies.items(chunk.get("choices") or [], "choices")
                    for i, choice in enumerate(choices):
                        choice = replies.obj(choice, f"choices[{i}]")
                        # the completions endpoint's `text` is the chat endpoint's `content`
                        if replies.opt_text(choice.get("text"), f"choices[{i}].text (content)"):
                            times.append(t)
                        where = f"choices[{i}].finish_reason"
                        ended = bool(replies.opt_text(choice.get("finish_reason"), where)) or ended
                    for key in ("usage", "timings"):
                        if chunk.get(key) is not None:
                            raw_final[key] = replies.obj(chunk[key], key)
            if not ended:
                return Final(), times, t0, "the stream ended early (no finish_reason, no [DONE])"
            return Final.of(raw_final), times, t0, None
        except TransportError as exc:
            return Final(), times, t0, str(exc)
        except replies.WireError as exc:
            return Final(), times, t0, f"the server sent a malformed message: {exc}"
        except StreamLimitError as exc:
            return Final(), times, t0, str(exc)
        except (ValueError, UnicodeDecodeError) as exc:
            return Final(), times, t0, f"the server sent a malformed stream chunk: {exc}"
        except RecursionError:
            return Final(), times, t0, "the server sent JSON nested too deep to be a chunk"

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
            if test.depth and final.cache_n is not None and final.cache_n < test.depth - 1:
                notes.append(f"server reused only {final.cache_n} context tokens")
            usage_n = final.usage_prompt
            if not test.depth and usage_n is not None and usage_n != test.n:
                notes.append(f"server counted {usage_n} prompt tokens")
            if counted is None:
                notes.append("prompt length unverified (no tokenizer endpoint)")
            server = per_second(final.prompt_n, final.prompt_ms)
            return Sample(
                test.n / ttft_s,
                server,
                final.prompt_n or usage_n,
                "ok",
                "; ".join(notes) or None,
                ttft_ms=ttft_s * 1000,
                first_ns=t0,
                last_ns=times[0],
            )
        prompt = depth_text or rng.choice(WORDS)
        final, times, t0, error = self._complete(
            prompt, test.n, True, bool(test.depth) or self.prefix_cache
        )
        if error or not times:
            return Sample(None, None, None, "error", error or "no token came back")
        # llama-server's decode clock spans predicted_n - 1 intervals (docs/metrics.md)
        server = per_second((final.predicted_n or 1) - 1, final.predicted_ms)
        got = final.usage_completion or final.predicted_n or len(times)
        return generation_sample(test.n, got, times, t0, server, "the server stopped early")
