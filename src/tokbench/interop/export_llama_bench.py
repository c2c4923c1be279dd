"""Write bench results in the shapes llama.cpp users paste and read.

- `render_markdown`: llama-bench's table (`model | size | params | backend | threads | test |
  t/s`) with t/s as "mean ± sd" and an added `n` column (repetitions), plus the
  `build: <commit> (<number>)` footer when the rows share a build.
- `render_json` / `render_jsonl`: llama-bench `-o json` / `-o jsonl` records that llama.cpp's
  scripts/compare-llama-bench.py accepts: it requires its key properties (cpu_info, gpu_info,
  backends, n_gpu_layers, model_filename, model_type, n_batch, n_threads, type_k, ...,
  n_prompt, n_gen, n_depth) plus build_commit, test_time and avg_ts, and drops keys it does not
  know (so the extra `tokbench_n` and `tokbench_unknown` are harmless). Settings tokbench does
  not know are written as 0, false or "" (never null: the script joins rows on equality, NULL
  never equals NULL, and it int()s n_gpu_layers) and listed in `tokbench_unknown`, so
  tokbench's own reader treats them as unknown again.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tokbench.errors import TokbenchError
from tokbench.interop.llama_bench import parse_test_name

# The fields compare-llama-bench.py checks for: its LLAMA_BENCH_KEY_PROPERTIES plus
# build_commit, test_time and avg_ts, over its versions (older ones want use_mmap, newer ones
# load_mode, n_cpu_moe, fit_target and fit_min_ctx).
COMPARE_REQUIRED = (
    "cpu_info", "gpu_info", "backends", "n_gpu_layers", "n_cpu_moe", "tensor_buft_overrides",
    "model_filename", "model_type", "n_batch", "n_ubatch", "embeddings", "cpu_mask",
    "cpu_strict", "poll", "n_threads", "type_k", "type_v", "load_mode", "use_mmap",
    "no_kv_offload", "split_mode", "main_gpu", "tensor_split", "flash_attn", "n_prompt", "n_gen",
    "n_depth", "fit_target", "fit_min_ctx", "build_commit", "test_time", "avg_ts",
)  # fmt: skip
# llama-bench's own field order (tools/llama-bench get_fields), then the old use_mmap.
_FIELD_ORDER = (
    "build_commit",
    "build_number",
    "cpu_info",
    "gpu_info",
    "backends",
    "model_filename",
    "model_type",
    "model_size",
    "model_n_params",
    "n_batch",
    "n_ubatch",
    "n_threads",
    "cpu_mask",
    "cpu_strict",
    "poll",
    "type_k",
    "type_v",
    "n_gpu_layers",
    "n_cpu_moe",
    "split_mode",
    "main_gpu",
    "no_kv_offload",
    "flash_attn",
    "devices",
    "tensor_split",
    "tensor_buft_overrides",
    "load_mode",
    "use_mmap",
    "embeddings",
    "no_op_offload",
    "no_host",
    "fit_target",
    "fit_min_ctx",
    "n_prompt",
    "n_gen",
    "n_depth",
    "test_time",
)
# llama-bench's field types (get_field_type), for typed placeholders.
_INT_FIELDS = frozenset(
    {"build_number", "n_batch", "n_ubatch", "n_threads", "poll", "model_size", "model_n_params",
     "n_gpu_layers", "main_gpu", "n_prompt", "n_gen", "n_depth", "no_op_offload", "n_cpu_moe",
     "fit_target", "fit_min_ctx", "flash_attn"}
)  # fmt: skip
_BOOL_FIELDS = frozenset({"no_kv_offload", "cpu_strict", "embeddings", "no_host", "use_mmap"})

Setting = str | int | float | bool


@dataclass(frozen=True, slots=True)
class BenchRow:
    """One bench result to export: a test of one model on one host.

    `model` fills llama-bench's model column (its model_type, "<arch> <size> <quant>" when
    known). `test` is a llama-bench test name (pp512, tg128, pp512+tg128, pp512 @ d4096).
    `settings` sets any other llama-bench field by its name (n_batch, type_k, flash_attn ...).
    """

    model: str
    test: str
    mean_tps: float
    sd_tps: float
    n: int
    samples_tps: tuple[float, ...] = ()
    model_filename: str = ""
    model_size_bytes: int | None = None
    model_params: int | None = None
    backend: str = "CPU"
    threads: int | None = None
    n_gpu_layers: int | None = None
    cpu_info: str = ""
    gpu_info: str = ""
    build_commit: str = "unknown"
    build_number: int = 0
    test_time: str = ""
    settings: tuple[tuple[str, Setting], ...] = ()


def _size(size_bytes: int | None) -> str:
    # llama-bench prints MiB below 1 GiB, GiB above, with two decimals.
    if size_bytes is None:
        return ""
    if size_bytes < 1024**3:
        return f"{size_bytes / 1024 / 1024:.2f} MiB"
    return f"{size_bytes / 1024**3:.2f} GiB"


def _params(n_params: int | None) -> str:
    if n_params is None:
        return ""
    return f"{n_params / 1e6:.2f} M" if n_params < 1_000_000_000 else f"{n_params / 1e9:.2f} B"


def _shape(row: BenchRow) -> tuple[int, int, int]:
    shape = parse_test_name(row.test)
    if shape is None:
        raise TokbenchError(
            f"test {row.test!r} is not a llama-bench test name (ppN, tgN, ppN+tgM, '@ dN')"
        )
    return shape


def render_markdown(rows: Sequence[BenchRow]) -> str:
    """llama-bench's markdown table with tokbench's ± and an `n` column."""
    if not rows:
        raise TokbenchError("there are no bench results to export")
    for row in rows:
        _shape(row)
    show_ngl = any(r.n_gpu_layers is not None for r in rows)
    show_threads = any(r.threads is not None for r in rows)
    header = ["model", "size", "params", "backend"]
    header += ["ngl"] * show_ngl + ["threads"] * show_threads + ["test", "t/s", "n"]
    right = {"size", "params", "ngl", "threads", "test", "t/s", "n"}
    table: list[list[str]] = []
    for r in rows:
        cells = [r.model, _size(r.model_size_bytes), _params(r.model_params), r.backend]
        if show_ngl:
            cells.append("" if r.n_gpu_layers is None else str(r.n_gpu_layers))
        if show_threads:
            cells.append("" if r.threads is None else str(r.threads))
        cells += [r.test, f"{r.mean_tps:.2f} ± {r.sd_tps:.2f}", str(r.n)]
        table.append(cells)
    widths = [max(len(h), *(len(t[i]) for t in table), 3) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if h in right else c.ljust(w)
            for c, w, h in zip(cells, widths, header, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    sep = (
        "| "
        + " | ".join(
            "-" * (w - 1) + (":" if h in right else "-")
            for w, h in zip(widths, header, strict=True)
        )
        + " |"
    )
    out = [line(header), sep, *(line(t) for t in table)]
    builds = {(r.build_commit, r.build_number) for r in rows}
    if len(builds) == 1:
        commit, number = builds.pop()
        out += ["", f"build: {commit} ({number})"]
    return "\n".join(out) + "\n"


def _placeholder(field: str) -> object:
    # The script int()s numeric key fields (n_gpu_layers always) and joins on equality, so an
    # unknown setting needs a typed, non-null stand-in; `tokbench_unknown` names them.
    if field in _BOOL_FIELDS:
        return False
    return 0 if field in _INT_FIELDS else ""


def _record(row: BenchRow) -> dict[str, object]:
    n_prompt, n_gen, depth = _shape(row)
    given: dict[str, object | None] = {
        "build_commit": row.build_commit,
        "build_number": row.build_number,
        "cpu_info": row.cpu_info,
        "gpu_info": row.gpu_info,
        "backends": row.backend,
        "model_filename": row.model_filename,
        "model_type": row.model,
        "model_size": row.model_size_bytes,
        "model_n_params": row.model_params,
        "n_threads": row.threads,
        "n_gpu_layers": row.n_gpu_layers,
        "n_prompt": n_prompt,
        "n_gen": n_gen,
        "n_depth": depth,
        "test_time": row.test_time,
    }
    given.update(dict(row.settings))
    known = {k: v for k, v in given.items() if v is not None}
    unknown = [f for f in _FIELD_ORDER if f not in known]
    record = {f: known[f] if f in known else _placeholder(f) for f in _FIELD_ORDER}
    record.update({k: v for k, v in known.items() if k not in record})
    # llama-bench times each repetition in ns; t/s = 1e9 * tokens / ns, so ns from t/s.
    tokens = n_prompt + n_gen
    ns = [round(1e9 * tokens / ts) if ts > 0 else 0 for ts in row.samples_tps]
    if ns:
        record["avg_ns"] = round(statistics.fmean(ns))
        record["stddev_ns"] = round(statistics.stdev(ns)) if len(ns) > 1 else 0
    record["avg_ts"] = row.mean_tps
    record["stddev_ts"] = row.sd_tps
    if ns:
        record["samples_ns"] = ns
        record["samples_ts"] = list(row.samples_tps)
    record["tokbench_n"] = row.n
    record["tokbench_unknown"] = unknown
    return record


def render_json(rows: Sequence[BenchRow]) -> str:
    """llama-bench `-o json`: a list of test records."""
    if not rows:
        raise TokbenchError("there are no bench results to export")
    return json.dumps([_record(r) for r in rows], indent=2) + "\n"


def render_jsonl(rows: Sequence[BenchRow]) -> str:
    """llama-bench `-o jsonl`: one test record per line."""
    if not rows:
        raise TokbenchError("there are no bench results to export")
    return "".join(json.dumps(_record(r)) + "\n" for r in rows)
