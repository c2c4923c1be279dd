"""In-process llama.cpp (through llama-cpp-python): no server needed.

We format the chat prompt, tokenize it and drive `Llama.generate` token by token,
so every count is exact (source `engine`) and each token is timestamped the
moment the engine yields it. The engine's own perf counters are kept too.
"""

from __future__ import annotations

import codecs
import time
from pathlib import Path
from typing import Any

from tokbench.backends.base import OnToken
from tokbench.core.config import KV_CACHE_TYPES, MMAP_MODES, NUMA_MODES, EngineSettings
from tokbench.core.records import Target
from tokbench.core.trace import ANSWER, ChatRequest, Count, EngineTiming, Recorder, Trace
from tokbench.errors import TokbenchError
from tokbench.gguf.identity import file_type_name
from tokbench.hardware.probe import physical_cores

# llama.cpp's sampling defaults, used where the suite sets nothing.
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95
DEFAULT_TOP_K = 40


# ggml_type values for llama-cpp-python's type_k/type_v (ggml.h enum ggml_type)
GGML_TYPES = {
    "f32": 0,
    "f16": 1,
    "q4_0": 2,
    "q4_1": 3,
    "q5_0": 6,
    "q5_1": 7,
    "q8_0": 8,
    "iq4_nl": 20,
    "bf16": 30,
}
GGML_TYPE_NAMES = {v: k for k, v in GGML_TYPES.items()}
# A V cache of any other type needs flash attention.
UNQUANTIZED_KV = ("f16", "bf16", "f32")
DEFAULT_BATCH = 512  # llama-cpp-python's n_batch
# ggml_numa_strategy values for llama-cpp-python's `numa`
NUMA_STRATEGIES = {"off": 0, "distribute": 1, "isolate": 2, "numactl": 3}
# llama_model_params.load_mode (llama.h enum llama_load_mode), as `--mmap` names it
_LOAD_MODES = {0: "off", 1: "on", 3: "mlock"}


def llama_arguments(settings: EngineSettings) -> dict[str, Any]:
    """The `llama_cpp.Llama(...)` keyword arguments (llama-cpp-python 0.3.x) of the
    settings given: threads, context and chat format aside, a setting left None is not
    passed (llama-cpp-python's default holds)."""
    out: dict[str, Any] = {}
    if settings.threads is not None:
        out["n_threads"] = out["n_threads_batch"] = settings.threads
    if settings.gpu_layers is not None:
        out["n_gpu_layers"] = settings.gpu_layers
    if settings.numa is not None:
        out["numa"] = NUMA_STRATEGIES[settings.numa]
    if settings.flash_attn is not None:
        out["flash_attn"] = settings.flash_attn
    if settings.cache_type_k is not None:
        out["type_k"] = GGML_TYPES[settings.cache_type_k]
    if settings.cache_type_v is not None:
        out["type_v"] = GGML_TYPES[settings.cache_type_v]
    if settings.ubatch is not None:
        out["n_ubatch"] = settings.ubatch
    if settings.batch is not None:
        out["n_batch"] = settings.batch
    if settings.mmap is not None:
        out["use_mmap"] = settings.mmap != "off"
        out["use_mlock"] = settings.mmap == "mlock"
    return out


def checked(settings: EngineSettings) -> EngineSettings:
    """These settings, or a TokbenchError naming the bad one in one sentence."""
    for flag, kv in (
        ("--cache-type-k", settings.cache_type_k),
        ("--cache-type-v", settings.cache_type_v),
    ):
        if kv is not None and kv not in KV_CACHE_TYPES:
            raise TokbenchError(
                f"{flag} {kv} is not a llama.cpp KV-cache type; use one of "
                f"{', '.join(KV_CACHE_TYPES)}"
            )
    v = settings.cache_type_v or "f16"
    if settings.flash_attn is False and v not in UNQUANTIZED_KV:
        raise TokbenchError(
            f"a {v} V cache needs flash attention: drop --flash-attn off or use an f16 V cache"
        )
    batch = settings.batch or DEFAULT_BATCH
    if settings.ubatch is not None and settings.ubatch > batch:
        raise TokbenchError(
            f"--ubatch-size {settings.ubatch} is above the batch size {batch} (llama.cpp "
            f"would cut it to {batch}); raise --batch-size to at least {settings.ubatch}"
        )
    for flag, value, allowed in (
        ("--mmap", settings.mmap, MMAP_MODES),
        ("--numa", settings.numa, NUMA_MODES),
    ):
        if value is not None and value not in allowed:
            raise TokbenchError(f"{flag} {value}: use one of {', '.join(allowed)}")
    return settings


def system_in_first_turn(
    messages: tuple[tuple[str, str], ...],
) -> tuple[tuple[str, str], ...]:
    """Gemma has no system role: its system text opens the next user turn, followed by a
    blank line, as llama.cpp's own Gemma template does (llama-server's prompt, token for
    token). llama-cpp-python's `format_gemma` would drop it instead."""
    out: list[tuple[str, str]] = []
    system = ""
    for role, content in messages:
        if role == "system":
            system += content.strip()
            continue
        if system and role != "assistant":
            content, system = f"{system}\n\n{content}", ""
        out.append((role, content))
    if system:  # a system prompt with no turn after it: it is the turn
        out.append(("user", system))
    return tuple(out)


class EmbeddedBackend:
    kind = "embedded"

    def __init__(
        self,
        model_path: Path,
        settings: EngineSettings | None = None,
        *,
        prompt_cache: bool = False,
    ) -> None:
        """`settings`: threads (default: the physical cores), context, chat format and the
        knobs `tokbench tune` turns. `prompt_cache`: keep the context's KV cache between
        requests, so a request whose prompt starts like the previous one's (a conversation's
        next turn) computes only the new tokens (llama-cpp-python's prefix match); off, every
        request starts from an empty context and pays its whole prefill."""
        import llama_cpp
        from llama_cpp import Llama

        settings = checked(settings or EngineSettings())
        if not model_path.is_file():
            raise TokbenchError(f"model file not found: {model_path}")
        quiet_llama_logs()
        self.model_path = model_path
        threads = settings.threads or physical_cores()
        self.prompt_cache = prompt_cache
        options: dict[str, Any] = {
            "n_threads": threads,
            "n_threads_batch": threads,
            "n_ctx": settings.n_ctx,
            # llama.cpp's own tools default to flash attention where the backend has it
            # (all CPU builds); llama-cpp-python defaults to off
            "flash_attn": True,
            **llama_arguments(settings),
        }
        self.threads = threads
        self.settings = settings
        try:
            self.llm = Llama(model_path=str(model_path), verbose=False, **options)
        except (ValueError, RuntimeError) as exc:
            raise TokbenchError(
                f"llama.cpp could not load {model_path}: {exc}; is it a GGUF model file?"
            ) from exc
        self._llama_cpp = llama_cpp
        self._threadpool = _attach_threadpool(self.llm, threads)
        self._formatter, self.chat_format = self._pick_formatter(settings.chat_format)
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
        """What the engine says of itself and the model, as stored with the run."""
        return Target(
            backend_kind=self.kind,
            gguf_path=str(self.model_path),
            gguf_bytes=self.model_path.stat().st_size,
            quantization=file_type_name(self._meta),
            n_params=self.llm._model.n_params(),
            n_ctx=self.llm.n_ctx(),
            details={
                "model_desc": self.llm._model.desc(),
                "architecture": self._meta.get("general.architecture"),
                "chat_format": self.chat_format,
                "default_sampling": {  # used where the suite sets nothing
                    "temperature": DEFAULT_TEMPERATURE,
                    "top_p": DEFAULT_TOP_P,
                    "top_k": DEFAULT_TOP_K,
                },
                "threadpool": "persistent" if self._threadpool else "ggml default",
                "prompt_cache": self.prompt_cache,
                "flash_attn": self.llm.context_params.flash_attn_type == 1,
                **self._context_facts(),
                "llama_cpp_python": self._llama_cpp.__version__,
            },
        )

    def _context_facts(self) -> dict[str, Any]:
        """The engine settings llama.cpp took, where they differ from its defaults (so a
        run made with defaults is described as before)."""
        params = self.llm.context_params
        took = {
            "cache_type_k": GGML_TYPE_NAMES.get(params.type_k, str(params.type_k)),
            "cache_type_v": GGML_TYPE_NAMES.get(params.type_v, str(params.type_v)),
            "n_batch": params.n_batch,
            "n_ubatch": params.n_ubatch,
            "mmap": _LOAD_MODES.get(self.llm.model_params.load_mode, "other"),
        }
        defaults = {"cache_type_k": "f16", "cache_type_v": "f16", "n_batch": 512,
                    "n_ubatch": 512, "mmap": "on"}  # fmt: skip
        return {k: v for k, v in took.items() if v != defaults[k]}

    def close(self) -> None:
        self.llm.close()
        if self._threadpool:
            self._threadpool.free()
            self._threadpool = None

    def prompt_tokens(self, request: ChatRequest) -> tuple[list[int], list[str]]:
        pairs = request.messages
        if self.chat_format == "gemma":  # llama-cpp-python's Gemma format drops system text
            pairs = system_in_first_turn(pairs)
        messages = [{"role": r, "content": c} for r, c in pairs]
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

