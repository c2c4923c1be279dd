"""Bench tests on the embedded engine: drive the llama.cpp context directly, like
llama-bench (random tokens, no sampling), so the rate is the engine's, not our loop's.

A test names what is measured: `pp512` is the prefill of exactly 512 prompt tokens,
`tg128` the generation of exactly 128 tokens, `@ d4096` with 4096 tokens already in the
context (built first, not timed). Rates are tokens / seconds of the named part only, as
llama-bench defines them.
"""

from __future__ import annotations

import random
import time
from typing import Any

from tokbench.backends.embedded import EmbeddedBackend
from tokbench.core.config import BenchTest
from tokbench.core.metrics import per_second
from tokbench.core.records import Sample, Target
from tokbench.errors import TokbenchError


class EmbeddedBench:
    kind = "embedded"

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self.llm: Any = backend.llm  # llama_cpp.Llama (untyped)
        # the file's name: two quants of one model share general.name but not a file name
        self.model = backend.model_path.stem
        self._n_vocab = self.llm.n_vocab()

    def info(self) -> Target:
        return self.backend.describe().with_facts(threads=self.backend.threads)

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
            server, counted = per_second(perf.n_p_eval, perf.t_p_eval_ms), perf.n_p_eval
        else:
            t0 = clock()
            for tok in tokens:
                self._decode([tok])
            t1 = clock()
            perf = llama_cpp.llama_perf_context(llm.ctx)
            server, counted = per_second(perf.n_eval, perf.t_eval_ms), perf.n_eval
        note = None if counted == test.n else f"the engine counted {counted} tokens"
        return Sample(
            test.n / ((t1 - t0) / 1e9), server, counted, "ok", note, first_ns=t0, last_ns=t1
        )
