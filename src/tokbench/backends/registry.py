"""The one list of server kinds, and how to open one. Adding a kind: one module (its
protocol, a detection probe, a `Backend` and a `BenchEngine`) and one entry here; `run`,
`bench`, `servers`, detection and every `--backend` choice read this list."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tokbench.backends import detect as detect_
from tokbench.backends import llama_server, lmstudio, ollama, openai, sglang, vllm
from tokbench.backends.base import Backend, BenchEngine, Detected, ServerKind
from tokbench.backends.bundled import bundled_model_path
from tokbench.backends.embedded import EmbeddedBackend
from tokbench.backends.embedded_bench import EmbeddedBench
from tokbench.backends.ollama_bench import OllamaBench
from tokbench.backends.openai import OpenAIBackend
from tokbench.backends.openai_bench import CompletionsBench
from tokbench.core.config import BenchConfig, Connection, EngineSettings
from tokbench.errors import TokbenchError


def _openai_family(cls: type[OpenAIBackend]) -> Callable[[Connection, str | None], Backend]:
    """How every OpenAI-protocol kind (its subclasses) opens from a connection."""

    def open_(conn: Connection, key: str | None) -> Backend:
        return cls(
            conn.url or "",
            conn.model,
            api_key=key,
            api_key_env=conn.api_key_env,
            timeout_s=conn.timeout_s,
            prompt_cache=conn.prompt_cache,
            idle_timeout_s=conn.idle_timeout_s,
            max_response_bytes=int(conn.max_response_mb * 2**20),
        )

    return open_


def _open_ollama(conn: Connection, key: str | None) -> Backend:
    return ollama.OllamaBackend(
        conn.url or "",
        conn.model,
        api_key=key,
        api_key_env=conn.api_key_env,
        timeout_s=conn.timeout_s,
        keep_alive=conn.keep_alive,
        think=conn.think,
        idle_timeout_s=conn.idle_timeout_s,
        max_response_bytes=int(conn.max_response_mb * 2**20),
    )


def _open_embedded(conn: Connection, _key: str | None) -> Backend:
    """The embedded engine with its default settings (`open_backend` passes the user's)."""
    if conn.url:
        raise TokbenchError("the embedded engine takes no --url; pass --model-path instead")
    return EmbeddedBackend(Path(conn.model_path or ""), prompt_cache=conn.prompt_cache)


def _completions_bench(backend: Any, prefix_cache: bool) -> BenchEngine:
    return CompletionsBench(backend, prefix_cache=prefix_cache)


def _ollama_bench(backend: Any, _prefix_cache: bool) -> BenchEngine:
    return OllamaBench(backend)


def _embedded_bench(backend: Any, _prefix_cache: bool) -> BenchEngine:
    return EmbeddedBench(backend)


# In detection order: a server that speaks several protocols is named by the richest.
KINDS: tuple[ServerKind, ...] = (
    ServerKind(
        "ollama",
        "Ollama's native API (/api/chat, NDJSON, server timings)",
        "Ollama /api/version",
        ollama.probe,
        _open_ollama,
        _ollama_bench,
        frozenset({"thinking", "server_timing"}),
    ),
    ServerKind(
        "llama-server",
        "llama.cpp's llama-server (timings, /tokenize, cache_prompt)",
        "llama-server /props",
        llama_server.probe,
        _openai_family(llama_server.LlamaServerBackend),
        _completions_bench,
        frozenset({"thinking", "server_timing", "exact_prompt", "prefix_cache"}),
    ),
    ServerKind(
        "lmstudio",
        "LM Studio's REST API (stats: tokens/s, time to first token)",
        "LM Studio /api/v0/models",
        lmstudio.probe,
        _openai_family(lmstudio.LMStudioBackend),
        _completions_bench,
        frozenset({"server_timing"}),
    ),
    ServerKind(
        "sglang",
        "SGLang (OpenAI protocol)",
        "SGLang /get_server_info",
        sglang.probe,
        _openai_family(sglang.SGLangBackend),
        _completions_bench,
        frozenset({"thinking", "exact_prompt"}),
    ),
    ServerKind(
        "vllm",
        "vLLM (OpenAI protocol, reasoning_content)",
        "vLLM /version",
        vllm.probe,
        _openai_family(vllm.VLLMBackend),
        _completions_bench,
        frozenset({"thinking", "exact_prompt"}),
    ),
    ServerKind(
        "openai",
        "any OpenAI-compatible server or hosted API",
        "OpenAI /v1/models",
        openai.probe,
        _openai_family(openai.OpenAIBackend),
        _completions_bench,
        frozenset({"thinking"}),
    ),
    ServerKind(
        "embedded",
        "llama.cpp in this process (llama-cpp-python), no server",
        None,
        None,
        _open_embedded,
        _embedded_bench,
        frozenset({"server_timing", "exact_prompt"}),
    ),
)

SERVER_KINDS = tuple(k.name for k in KINDS if k.probe is not None)


def server_kind(name: str) -> ServerKind:
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise TokbenchError(f"unknown server kind {name!r}; known: {', '.join(k.name for k in KINDS)}")


def open_bench_engine(backend: Backend, prefix_cache: bool = False) -> BenchEngine:
    """The bench engine of an opened backend's kind."""
    return server_kind(backend.kind).bench(backend, prefix_cache)


def detect(
    url: str, *, timeout_s: float = 2.0, api_key: str | None = None, api_key_env: str | None = None
) -> Detected:
    """Identify the server at `url`; raises TokbenchError when it is none we know."""
    return detect_.detect(url, KINDS, timeout_s=timeout_s, api_key=api_key, api_key_env=api_key_env)


def scan(hosts: list[str] | None = None, *, timeout_s: float = 0.5) -> list[Detected | str]:
    """The LLM servers on the default local ports and on `hosts` (host:port)."""
    return detect_.scan(KINDS, hosts, timeout_s=timeout_s)


def api_key(conn: Connection) -> str | None:
    if not conn.api_key_env:
        return None
    key = os.environ.get(conn.api_key_env)
    if not key:
        raise TokbenchError(
            f"environment variable {conn.api_key_env} is not set or empty: "
            f"export {conn.api_key_env}=YOUR_KEY first"
        )
    return key


def open_backend(
    conn: Connection, notify: Callable[[str], None], engine: EngineSettings | None = None
) -> Backend:
    """The embedded engine (set up by `engine`) when no URL is given, else the server kind
    named or detected."""
    if not conn.url:
        path = Path(conn.model_path) if conn.model_path else bundled_model_path(notify)
        notify(f"loading {path.name} into llama.cpp")
        return EmbeddedBackend(path, engine, prompt_cache=conn.prompt_cache)
    key = api_key(conn)
    name = conn.kind
    if name is None:
        found = detect(conn.url, api_key=key, api_key_env=conn.api_key_env)
        name = found.kind
        notify(f"{found.url}: {name} {found.version or ''}".rstrip())
    return server_kind(name).open(conn, key)


def open_engine_for(
    cfg: BenchConfig, notify: Callable[[str], None]
) -> Callable[[str | None], BenchEngine]:
    """How to open each model of a bench matrix (embedded GGUF path or server model name)."""

    def opener(model: str | None) -> BenchEngine:
        need = max(cfg.depths) + max((*cfg.n_prompt, *cfg.n_gen)) + 64
        conn = replace(
            cfg.connection,
            model=model if cfg.url else None,
            model_path=model if not cfg.url else None,
            prompt_cache=cfg.prefix_cache,
        )
        engine = replace(cfg.engine, n_ctx=max(need, 512))
        return open_bench_engine(open_backend(conn, notify, engine), cfg.prefix_cache)

    return opener
