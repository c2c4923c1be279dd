"""A candidate as llama-server arguments and as the embedded engine's settings.

llama.cpp renamed some flags over time; `ServerDialect` records which spelling a given
binary speaks, read from its `--help`:
- `-fa on|off|auto` (since mid-2025) versus a bare `-fa` switch before;
- `-lm/--load-mode none|mmap|mmap+mlock...` (late 2025 on) versus `--no-mmap` and `--mlock`;
- `-ngl all|auto|N` versus a plain number (999 meaning all);
- `--n-cpu-moe N` versus an `-ot` pattern for the first N layers' expert tensors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tokbench.core.config import EngineSettings
from tokbench.errors import TokbenchError

EXPERTS_ON_CPU = "exps=CPU"  # -ot pattern: every routed-expert tensor stays in host memory


@dataclass(frozen=True, slots=True)
class ServerDialect:
    """Which spelling of the tuned flags a llama-server binary accepts."""

    fa_value: bool = True
    load_mode: bool = True
    ngl_words: bool = True
    n_cpu_moe: bool = True


CURRENT = ServerDialect()


def dialect_from_help(help_text: str) -> ServerDialect:
    """Read a binary's `--help`; a TokbenchError if it is not llama-server at all."""
    if "--port" not in help_text or not re.search(r"(^|\s)-m,?\s+--model\b", help_text, re.M):
        raise TokbenchError(
            "that binary does not look like llama.cpp's llama-server (its --help lists no "
            "--model and --port); pass --server-bin the path of llama-server"
        )
    # the help text wraps, so look a few lines past -ngl for its 'all' value
    ngl = re.search(r"--n-gpu-layers\s+N\b", help_text)
    ngl_words = ngl is not None and "'all'" in help_text[ngl.end() : ngl.end() + 300]
    return ServerDialect(
        fa_value=bool(re.search(r"--flash-attn\s+\[on\|off\|auto\]", help_text)),
        load_mode="--load-mode" in help_text,
        ngl_words=ngl_words,
        n_cpu_moe="--n-cpu-moe" in help_text,
    )


def _first_layers_experts(n: int) -> str:
    """An -ot pattern for the expert tensors of layers 0..n-1 (what --n-cpu-moe N does)."""
    layers = "|".join(str(i) for i in range(n))
    return rf"blk\.({layers})\.ffn_(up|down|gate)_exps=CPU"


def server_args(candidate: Mapping[str, str], dialect: ServerDialect = CURRENT) -> list[str]:
    """The llama-server arguments for a candidate, in knob order (no -m, host or port)."""
    out: list[str] = []
    for name, value in candidate.items():
        match name:
            case "threads":
                out += ["-t", value]
            case "ngl":
                out += ["-ngl", "999" if value == "all" and not dialect.ngl_words else value]
            case "cpu_moe":
                if value == "all":
                    out += ["-ot", EXPERTS_ON_CPU]
                elif value != "0":
                    out += (
                        ["--n-cpu-moe", value]
                        if dialect.n_cpu_moe
                        else ["-ot", _first_layers_experts(int(value))]
                    )
            case "numa":
                if value != "off":
                    out += ["--numa", value]
            case "fa":
                if dialect.fa_value:
                    out += ["-fa", value]
                elif value == "on":
                    out += ["-fa"]  # old builds: a switch, off by default, no auto
            case "kv":
                out += ["-ctk", value, "-ctv", value]
            case "ubatch":
                out += ["-ub", value]
            case "batch":
                out += ["-b", value]
            case "mmap":
                if value == "off":
                    out += ["-lm", "none"] if dialect.load_mode else ["--no-mmap"]
                elif value == "mlock":
                    out += ["-lm", "mmap+mlock"] if dialect.load_mode else ["--mlock"]
            case _:
                raise TokbenchError(f"no llama-server flag for knob {name!r}")
    return out


def server_command(
    candidate: Mapping[str, str],
    model_path: str,
    *,
    server_bin: str = "llama-server",
    dialect: ServerDialect = CURRENT,
    host: str | None = None,
    port: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """A complete llama-server argv: binary, model, the candidate's flags, then host/port."""
    argv = [server_bin, "-m", model_path, *server_args(candidate, dialect), *extra]
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    return argv


def engine_settings(
    candidate: Mapping[str, str], base: EngineSettings | None = None
) -> EngineSettings:
    """The candidate as the embedded engine's settings (over `base`), the settings
    `tokbench run` takes as flags. `numa` is process-wide in llama.cpp (the first
    `llama_numa_init` wins), so an embedded tune can measure only one NUMA mode per process."""
    values: dict[str, Any] = {}
    for name, value in candidate.items():
        match name:
            case "threads":
                values["threads"] = int(value)
            case "ngl":
                values["gpu_layers"] = -1 if value == "all" else int(value)
            case "numa":
                values["numa"] = value
            case "fa":
                if value == "auto":
                    raise TokbenchError(
                        "fa=auto is llama-server only; the embedded engine takes on or off"
                    )
                values["flash_attn"] = value == "on"
            case "kv":
                values["cache_type_k"] = values["cache_type_v"] = value
            case "ubatch":
                values["ubatch"] = int(value)
            case "batch":
                values["batch"] = int(value)
            case "mmap":
                values["mmap"] = value
            case _:
                raise TokbenchError(
                    f"knob {name!r} has no llama-cpp-python equivalent; tune it with --server-bin"
                )
    return replace(base or EngineSettings(), **values)

