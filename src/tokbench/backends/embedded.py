"""In-process llama.cpp (through llama-cpp-python): no server needed.

We format the chat prompt, tokenize it and drive `Llama.generate` token by token,
so every count is exact (source `engine`) and each token is timestamped the
moment the engine yields it. The engine's own perf counters are kept too.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tokbench.backends.base import OnToken
from tokbench.core.records import Target
from tokbench.core.trace import ANSWER, ChatRequest, Count, EngineTiming, Recorder, Trace
from tokbench.errors import TokbenchError

# llama.cpp's sampling defaults, used where the suite sets nothing.
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95
DEFAULT_TOP_K = 40


class EmbeddedBackend:
    kind = "embedded"

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int,
        n_ctx: int = 4096,
        chat_format: str | None = None,
        flash_attn: bool = True,
        llama_options: Mapping[str, Any] | None = None,
        prompt_cache: bool = False,
    ) -> None:
        """`llama_options`: further `llama_cpp.Llama(...)` keyword arguments (batch sizes,
        KV-cache type, mmap...), e.g. a tune candidate's; they win over the ones above.
        `prompt_cache`: keep the context's KV cache between requests, so a request whose
        prompt starts like the previous one's (a conversation's next turn) computes only
        the new tokens (llama-cpp-python's prefix match); off, every request starts from
        an empty context and pays its whole prefill."""
        import llama_cpp
        from llama_cpp import Llama

        if not model_path.is_file():
            raise TokbenchError(f"model file not found: {model_path}")
        quiet_llama_logs()
        self.model_path = model_path
        self.prompt_cache = prompt_cache
        options: dict[str, Any] = {
            "n_threads": threads,
            "n_threads_batch": threads,
            "n_ctx": n_ctx,
            # llama.cpp's own tools default to flash attention where the backend has it
            # (all CPU builds); llama-cpp-python defaults to off
            "flash_attn": flash_attn,
            **(llama_options or {}),
        }
        threads = int(options["n_threads"])
        self.threads = threads
        try:
            self.llm = Llama(model_path=str(model_path), verbose=False, **options)
        except (ValueError, RuntimeError) as exc:
            raise TokbenchError(
                f"llama.cpp could not load {model_path}: {exc}; is it a GGUF model file?"
            ) from exc
        self._llama_cpp = llama_cpp
        self._threadpool = _attach_threadpool(self.llm, threads)
        self._formatter, self.chat_format = self._pick_formatter(chat_format)
        meta = self.llm.metadata
        self.model = meta.get("general.name") or model_path.stem
        self._meta = meta

    def _pick_formatter(self, name: str | None) -> tuple[Any, str]:
        from llama_cpp import llama_chat_format as lcf

        if name:
            fn = getattr(lcf, "format_" + name.replace("-", "_").replace(".", "_"), None)
            if fn is None:
                raise TokbenchError(
                    f"unknown chat format {name!r}; try gemma, chatml, llama-2, mistral-instruct"
                )
            return fn, name
        template = self.llm.metadata.get("tokenizer.chat_template")
        if template:
            llm = self.llm
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
            bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
            return lcf.Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos), "gguf-template"
        arch = self.llm.metadata.get("general.architecture", "")
        if arch.startswith("gemma"):
            return lcf.format_gemma, "gemma"
        return lcf.format_chatml, "chatml (guessed: the GGUF has no chat template)"

    def describe(self) -> Target:
        return Target.described(self.kind, self.facts())

    def facts(self) -> dict[str, Any]:
        """What the engine says of itself and the model, as stored with the run."""
        meta = self._meta
        return {
            "gguf_path": str(self.model_path),
            "gguf_bytes": self.model_path.stat().st_size,
            "model_desc": self.llm._model.desc(),
            "quantization": _quant(self),
            "architecture": meta.get("general.architecture"),
            "n_params": self.llm._model.n_params(),
            "n_ctx": self.llm.n_ctx(),
            "chat_format": self.chat_format,
            "default_sampling": {  # used where the suite sets nothing
                "temperature": DEFAULT_TEMPERATURE,
                "top_p": DEFAULT_TOP_P,
                "top_k": DEFAULT_TOP_K,
            },
            "threadpool": "persistent" if self._threadpool else "ggml default",
            "prompt_cache": self.prompt_cache,
            "flash_attn": self.llm.context_params.flash_attn_type == 1,
            "llama_cpp_python": self._llama_cpp.__version__,
        }

    def close(self) -> None:
        self.llm.close()
        if self._threadpool:
            self._threadpool.free()
            self._threadpool = None

    def prompt_tokens(self, request: ChatRequest) -> tuple[list[int], list[str]]:
        messages = [{"role": r, "content": c} for r, c in request.messages]
        res = self._formatter(messages=messages)
        add_bos = not getattr(res, "added_special", False)
        tokens = self.llm.tokenize(res.prompt.encode("utf-8"), add_bos=add_bos, special=True)
        stop = res.stop if isinstance(res.stop, list) else [res.stop] if res.stop else []
        return tokens, stop

    def stream(self, request: ChatRequest, on_token: OnToken | None = None) -> Trace:
        llm = self.llm
        lc = self._llama_cpp
        clock = time.perf_counter_ns
        rec = Recorder(clock())
        try:
            prompt, stops = self.prompt_tokens(request)
        except (ValueError, RuntimeError) as exc:
            return rec.finish(clock(), error=f"cannot format the prompt: {exc}")
        if len(prompt) + request.max_tokens > llm.n_ctx():
            return rec.finish(
                clock(),
                error=(
                    f"prompt ({len(prompt)} tokens) + max_tokens ({request.max_tokens}) exceed "
                    f"the context ({llm.n_ctx()}); lower --max-tokens or raise --ctx"
                ),
            )
        s = request.sampling
        if s.seed is not None:
            llm.set_seed(s.seed)
        if not self.prompt_cache:
            llm.reset()  # type: ignore[no-untyped-call]  # every request pays its full prefill
        lc.llama_perf_context_reset(llm.ctx)
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        generated: list[int] = []
        text_so_far = ""
        finish = "length"
        gen = llm.generate(
            prompt,
            temp=DEFAULT_TEMPERATURE if s.temperature is None else s.temperature,
            top_p=DEFAULT_TOP_P if s.top_p is None else s.top_p,
            top_k=DEFAULT_TOP_K if s.top_k is None else s.top_k,
            reset=True,
        )
        try:
            for token in gen:
                t = clock()
                if lc.llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                generated.append(token)
                piece = decoder.decode(llm.detokenize([token], prev_tokens=generated[:-1]))
                if piece:
                    rec.add(t, ANSWER, piece)
                    if on_token is not None:
                        on_token()
                    if stops:
                        text_so_far += piece
                        if any(stop in text_so_far for stop in stops):
                            finish = "stop"
                            break
                if len(generated) >= request.max_tokens:
                    break
        finally:
            gen.close()
        end = clock()
        perf = lc.llama_perf_context(llm.ctx)
        # what the engine reused: the prompt tokens it did not evaluate (its prefix match
        # kept them in the KV cache); read from its own counter, not from our prefix guess
        cached = max(0, len(prompt) - perf.n_p_eval) if self.prompt_cache else None
        return rec.finish(
            end,
            prompt_tokens=Count(len(prompt), "engine"),
            completion_tokens=Count(len(generated), "engine"),
            finish_reason=finish,
            engine=EngineTiming(
                prompt_tokens=perf.n_p_eval,
                prompt_ms=perf.t_p_eval_ms,
                decode_tokens=perf.n_eval,
                decode_ms=perf.t_eval_ms,
                cached_prompt_tokens=cached,
            ),
        )


_log_callback: Any = None


class _Threadpool:
    """A persistent ggml CPU threadpool, attached as llama-bench does.

    Without one, ggml creates (and joins) its worker threads for every graph it
    computes, i.e. for every generated token; llama-cpp-python does not bind the
    threadpool API, so it is called through ctypes. Best effort: None if unavailable.
    """

    def __init__(self, llm: Any, threads: int) -> None:
        import ctypes

        import llama_cpp.llama_cpp as lib_module

        # The very library llama-cpp-python loaded: dlsym on its handle also finds the ggml
        # symbols of its dependencies. (Opening the .so files again by path can load second
        # copies, whose threadpool would not belong to this context.)
        lib = lib_module._lib
        lib.ggml_threadpool_params_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.ggml_threadpool_new.argtypes = [ctypes.c_void_p]
        lib.ggml_threadpool_new.restype = ctypes.c_void_p
        lib.ggml_threadpool_free.argtypes = [ctypes.c_void_p]
        lib.llama_attach_threadpool.argtypes = [ctypes.c_void_p] * 3
        params = ctypes.create_string_buffer(4096)  # > sizeof(ggml_threadpool_params)
        lib.ggml_threadpool_params_init(params, threads)
        self._pool = lib.ggml_threadpool_new(params)
        if not self._pool:
            raise OSError("ggml_threadpool_new failed")
        self._lib = lib
        lib.llama_attach_threadpool(llm.ctx, self._pool, self._pool)

    def free(self) -> None:
        self._lib.ggml_threadpool_free(self._pool)


def _attach_threadpool(llm: Any, threads: int) -> _Threadpool | None:
    try:
        return _Threadpool(llm, threads)
    except (OSError, AttributeError, StopIteration):
        return None


def quiet_llama_logs() -> None:
    """Keep llama.cpp's chatter off the user's terminal; only its errors get through."""
    global _log_callback
    import ctypes
    import sys

    import llama_cpp

    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        if level == 4:  # GGML_LOG_LEVEL_ERROR in ggml.h (NONE, DEBUG, INFO, WARN, ERROR, CONT)
            sys.stderr.write(text.decode("utf-8", "replace"))

    _log_callback = callback  # ctypes needs the callback kept alive
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


_FTYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}


def _quant(backend: EmbeddedBackend) -> str | None:
    ftype = backend._meta.get("general.file_type")
    try:
        return _FTYPES.get(int(ftype)) if ftype is not None else None
    except ValueError:
        return None
