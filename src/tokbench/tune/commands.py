"""The winning settings as things a user pastes: a llama-server command line, `tokbench run`
arguments, and Ollama Modelfile `PARAMETER` lines plus server environment variables.

Ollama names (api/types.go `Runner`, envconfig): num_thread, num_batch, num_gpu,
use_mmap, use_mlock as Modelfile parameters; OLLAMA_FLASH_ATTENTION and
OLLAMA_KV_CACHE_TYPE (f16, q8_0, q4_0; needs flash attention) as server environment.
Knobs a target cannot express are listed, never silently dropped.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from tokbench.core.tune_report import Advice
from tokbench.tune.flags import CURRENT, ServerDialect, server_command
from tokbench.tune.space import Target

# knob -> the `tokbench run` options that set it on the embedded engine (each takes the
# knob's value as tune names it)
RUN_FLAGS: Mapping[str, tuple[str, ...]] = {
    "threads": ("--threads",),
    "ngl": ("--gpu-layers",),
    "numa": ("--numa",),
    "fa": ("--flash-attn",),
    "kv": ("--cache-type-k", "--cache-type-v"),
    "ubatch": ("--ubatch-size",),
    "batch": ("--batch-size",),
    "mmap": ("--mmap",),
}
# knobs the embedded engine cannot take, with why
NOT_EMBEDDED: Mapping[str, str] = {
    "cpu_moe": "llama-cpp-python cannot place tensors; serve the model with llama-server",
}
OLLAMA_KV_TYPES = ("f16", "q8_0", "q4_0")
ALL_LAYERS_OLLAMA = "999"  # Ollama caps num_gpu at the model's layer count


def llama_server_line(
    best: Mapping[str, str],
    model_path: str,
    *,
    server_bin: str = "llama-server",
    dialect: ServerDialect = CURRENT,
    host: str = "127.0.0.1",
    port: int = 8080,
    extra: Sequence[str] = (),
) -> str:
    """A ready shell command line for llama-server with the winning flags."""
    argv = server_command(
        best, model_path, server_bin=server_bin, dialect=dialect, host=host, port=port, extra=extra
    )
    return shlex.join(argv)


def tokbench_run_advice(
    best: Mapping[str, str],
    model_path: str,
    target: Target,
    *,
    url: str = "http://127.0.0.1:8080/v1",
    run_flags: Mapping[str, tuple[str, ...]] = RUN_FLAGS,
) -> Advice:
    """`tokbench run` with the winning settings, every knob spelled out (its default too,
    so the line says what was measured).

    Against llama-server every knob lives in the server's command line, so `run` only
    needs the URL; the embedded engine takes each knob as a `tokbench run` option.
    """
    if target == "server":
        return Advice((shlex.join(["tokbench", "run", "--url", url]),))
    argv = ["tokbench", "run", "--model-path", model_path]
    left_out = []
    for name, value in best.items():
        if name in run_flags:
            argv += [arg for flag in run_flags[name] for arg in (flag, value)]
        elif name == "cpu_moe" and value == "0":
            continue  # no expert tensor kept on the CPU: what the embedded engine does
        else:
            why = NOT_EMBEDDED.get(name, "the embedded engine has no such setting")
            left_out.append(f"{name}={value}: {why}")
    return Advice((shlex.join(argv),), tuple(left_out))


def ollama_advice(best: Mapping[str, str]) -> Advice:
    """Modelfile PARAMETER lines and `ollama serve` environment lines."""
    params: list[str] = []
    env: list[str] = []
    left_out: list[str] = []
    for name, value in best.items():
        match name:
            case "threads":
                params.append(f"PARAMETER num_thread {value}")
            case "batch":
                params.append(f"PARAMETER num_batch {value}")
            case "ngl":
                params.append(f"PARAMETER num_gpu {ALL_LAYERS_OLLAMA if value == 'all' else value}")
            case "mmap":
                if value == "off":
                    params.append("PARAMETER use_mmap false")
                elif value == "mlock":
                    params.append("PARAMETER use_mlock true")
            case "fa":
                if value != "auto":
                    env.append(f"OLLAMA_FLASH_ATTENTION={1 if value == 'on' else 0}")
            case "kv":
                if value not in OLLAMA_KV_TYPES:
                    left_out.append(f"kv={value}: Ollama takes only {', '.join(OLLAMA_KV_TYPES)}")
                elif value != "f16":
                    env.append(f"OLLAMA_KV_CACHE_TYPE={value}")
            case "ubatch":
                left_out.append(f"ubatch={value}: Ollama has no micro-batch setting")
            case "numa":
                if value != "off":
                    left_out.append(f"numa={value}: Ollama has no NUMA setting")
            case "cpu_moe":
                if value != "0":
                    left_out.append(f"cpu_moe={value}: Ollama places expert tensors itself")
            case _:
                left_out.append(f"{name}={value}: no Ollama equivalent")
    if any(e.startswith("OLLAMA_KV_CACHE_TYPE") for e in env) and best.get("fa") == "off":
        left_out.append("OLLAMA_KV_CACHE_TYPE needs flash attention, which this setting turns off")
    return Advice((*params, *env), tuple(left_out))
