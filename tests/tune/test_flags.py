"""Candidates as llama-server command lines (both flag dialects) and Llama(...) kwargs."""

from __future__ import annotations

import shlex

import pytest

from tokbench.backends.embedded import llama_arguments
from tokbench.errors import TokbenchError
from tokbench.tune.commands import llama_server_line
from tokbench.tune.flags import (
    ServerDialect,
    dialect_from_help,
    engine_settings,
    server_args,
    server_command,
)
from tokbench.tune.space import Candidate


def llama_kwargs_of(candidate: Candidate) -> dict[str, object]:
    """A candidate as the embedded engine's `Llama(...)` arguments, the way tune opens it."""
    return llama_arguments(engine_settings(candidate))


NEW_HELP = """\
-t,    --threads N                      number of CPU threads to use during generation
-fa,   --flash-attn [on|off|auto]       set Flash Attention use ('on', 'off', or 'auto')
-lm,   --load-mode MODE                 model loading mode (default: auto)
-ngl,  --gpu-layers, --n-gpu-layers N   max. number of layers to store in VRAM, either an exact number, 'auto', or 'all' (default: auto)
-ncmoe, --n-cpu-moe N                   keep the Mixture of Experts (MoE) weights of the first N layers in the CPU
-m,    --model FNAME                    model path to load
--port PORT                             port to listen (default: 8080)
"""  # noqa: E501
OLD_HELP = """\
-t,    --threads N                      number of threads to use during generation
-fa,   --flash-attn                     enable Flash Attention (default: disabled)
--mlock                                 force system to keep model in RAM
--no-mmap                               do not memory-map model
-ngl,  --gpu-layers, --n-gpu-layers N   number of layers to store in VRAM
-m,    --model FNAME                    model path (default: models/7B/ggml-model-f16.gguf)
--port PORT                             port to listen (default: 8080)
"""
OLD = ServerDialect(fa_value=False, load_mode=False, ngl_words=False, n_cpu_moe=False)

BEST = Candidate(
    {
        "threads": "8",
        "ngl": "all",
        "cpu_moe": "10",
        "numa": "distribute",
        "fa": "on",
        "kv": "q8_0",
        "ubatch": "256",
        "batch": "4096",
        "mmap": "mlock",
    }
)


def flag_values(argv: list[str]) -> dict[str, list[str]]:
    """Each flag with the values that follow it (flags start with '-', values do not here)."""
    out: dict[str, list[str]] = {}
    current = ""
    for token in argv:
        if token.startswith("-"):
            current = token
            out.setdefault(current, [])
        else:
            out[current].append(token)
    return out


def test_dialects_are_read_from_help() -> None:
    assert dialect_from_help(NEW_HELP) == ServerDialect()
    assert dialect_from_help(OLD_HELP) == OLD


def test_a_binary_that_is_not_llama_server_is_refused() -> None:
    with pytest.raises(TokbenchError, match=r"does not look like llama\.cpp's llama-server"):
        dialect_from_help("Usage: ollama [flags]\n  serve  Start ollama\n")


def test_server_command_line_round_trips_through_shlex() -> None:
    line = llama_server_line(BEST, "/models/My Model.gguf", server_bin="/opt/llama-server")
    argv = shlex.split(line)
    assert argv[:3] == ["/opt/llama-server", "-m", "/models/My Model.gguf"]
    flags = flag_values(argv[3:])
    assert flags == {
        "-t": ["8"],
        "-ngl": ["all"],
        "--n-cpu-moe": ["10"],
        "--numa": ["distribute"],
        "-fa": ["on"],
        "-ctk": ["q8_0"],
        "-ctv": ["q8_0"],
        "-ub": ["256"],
        "-b": ["4096"],
        "-lm": ["mmap+mlock"],
        "--host": ["127.0.0.1"],
        "--port": ["8080"],
    }


def test_old_dialect_spells_the_same_settings_the_old_way() -> None:
    flags = flag_values(server_args(BEST, OLD))
    assert flags["-ngl"] == ["999"]
    assert flags["-fa"] == []  # a bare switch
    assert flags["--mlock"] == [] and "-lm" not in flags
    (pattern,) = flags["-ot"]
    assert pattern.startswith(r"blk\.(0|1|2|3|4|5|6|7|8|9)\.") and pattern.endswith("=CPU")
    off = server_args(Candidate({"fa": "off", "mmap": "off"}), OLD)
    assert off == ["--no-mmap"]  # fa off is the old default: no flag


def test_default_like_values_add_no_flags_and_all_experts_use_ot() -> None:
    quiet = Candidate({"numa": "off", "cpu_moe": "0", "mmap": "on"})
    assert server_args(quiet) == []
    assert server_args(Candidate({"cpu_moe": "all"})) == ["-ot", "exps=CPU"]
    assert server_args(Candidate({"mmap": "off"})) == ["-lm", "none"]


def test_server_command_puts_extra_arguments_before_host_and_port() -> None:
    argv = server_command(
        Candidate({"threads": "2"}), "m.gguf", host="127.0.0.1", port=5000, extra=["-c", "2048"]
    )
    assert argv == [
        "llama-server",
        "-m",
        "m.gguf",
        "-t",
        "2",
        "-c",
        "2048",
        "--host",
        "127.0.0.1",
        "--port",
        "5000",
    ]


def test_candidates_map_to_llama_arguments_for_every_embedded_knob() -> None:
    cand = Candidate(
        {
            "threads": "4",
            "ngl": "all",
            "numa": "isolate",
            "fa": "off",
            "kv": "q4_0",
            "ubatch": "128",
            "batch": "512",
            "mmap": "off",
        }
    )
    assert llama_kwargs_of(cand) == {
        "n_threads": 4,
        "n_threads_batch": 4,
        "n_gpu_layers": -1,
        "numa": 2,
        "flash_attn": False,
        "type_k": 2,
        "type_v": 2,
        "n_ubatch": 128,
        "n_batch": 512,
        "use_mmap": False,
        "use_mlock": False,
    }
    assert llama_kwargs_of(Candidate({"mmap": "mlock", "kv": "q8_0"})) == {
        "type_k": 8,
        "type_v": 8,
        "use_mmap": True,
        "use_mlock": True,
    }


def test_engine_settings_refuse_what_llama_cpp_python_cannot_do() -> None:
    with pytest.raises(TokbenchError, match="no llama-cpp-python equivalent"):
        llama_kwargs_of(Candidate({"cpu_moe": "4"}))
    with pytest.raises(TokbenchError, match="llama-server only"):
        llama_kwargs_of(Candidate({"fa": "auto"}))
