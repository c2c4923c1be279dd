"""`tokbench gguf inspect` and `tokbench gguf merge`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tokbench.cli.checks import Number, output_path
from tokbench.cli.options import emit, format_option, stderr_console
from tokbench.render.outputs import Outputs


@click.group()
def gguf() -> None:
    """Read GGUF model files: what a token costs, and merging split files."""


@dataclass(frozen=True)
class _Inspected:
    """A model file read and analysed, as `gguf inspect` was asked to show it."""

    path: Path
    model: Any
    analysis: Any
    kv_cache: str
    show_tensors: bool


INSPECT: Outputs[_Inspected] = Outputs()


@INSPECT.add("table", "console")
def _inspect_table(v: _Inspected) -> list[Any]:
    from tokbench.render.gguf import inspect_view

    return [inspect_view(v.model, v.analysis, v.kv_cache, v.show_tensors)]


@INSPECT.add("json", "json")
def _inspect_json(v: _Inspected) -> Any:
    from dataclasses import asdict

    from tokbench.gguf.analysis import kv_bytes_per_token

    meta = {k: val for k, val in v.model.metadata.items() if not isinstance(val, dict)}
    return {
        "path": str(v.path),
        "shards": [str(s.path) for s in v.model.shards],
        "metadata": meta,
        "analysis": asdict(v.analysis),
        "kv_bytes_per_token": kv_bytes_per_token(v.analysis, v.kv_cache),
        "kv_cache": v.kv_cache,
        "tensors": [asdict(t) for t in v.model.tensors] if v.show_tensors else None,
    }


@gguf.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kv-cache",
    type=click.Choice(["f16", "q8_0", "q4_0", "f32", "bf16"]),
    default="f16",
    show_default=True,
    help="KV cache type for bytes per token.",
)
@click.option("--tensors", "show_tensors", is_flag=True, help="Also list every tensor.")
@format_option(*INSPECT.names)
def inspect(path: Path, kv_cache: str, show_tensors: bool, fmt: str) -> None:
    """Metadata, tensor classes and the bytes read per generated token (MoE-aware),
    across all shards of a split model."""
    from tokbench.gguf.analysis import analyze
    from tokbench.gguf.reader import read_model

    model = read_model(path)
    emit(INSPECT, fmt, _Inspected(path, model, analyze(model), kv_cache, show_tensors))


@gguf.command()
@click.argument("first", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path), callback=output_path)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def merge(first: Path, out: Path, force: bool) -> None:
    """Merge llama.cpp split files (FIRST is …-00001-of-0000N.gguf) into OUT, streaming."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from tokbench.gguf.merge import merge as do_merge

    err = stderr_console()
    with Progress(
        "merging",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("merge", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        model = do_merge(first, out, force=force, progress=progress)
    err.print(
        f"wrote {out}: {len(model.tensors)} tensors, {model.total_bytes / 2**30:.2f} GiB",
        highlight=False,
    )


SIZE_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
SIZE_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A size such as 1.5GB, 800MB, 2GiB or 2e9 (bytes)."""
    import re

    if value is None:
        return None
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
    unit = m.group(2).upper() if m else ""
    if not m or unit not in SIZE_UNITS:
        raise click.BadParameter(f"{value!r} is not a size: write e.g. 800MB, 1.5GB or 2e9")
    try:
        return float(m.group(1)) * SIZE_UNITS[unit]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size: write e.g. 800MB") from None


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path), callback=output_path)
@click.option("--params", type=Number(1e5, 1e13), help="Total parameters, e.g. 5e8 (default 1e8).")
@click.option(
    "--bytes-per-token",
    callback=parse_size,
    metavar="SIZE",
    help="Size the model by what a token reads instead, e.g. 1.2GB (MoE: the active part).",
)
@click.option("--moe", is_flag=True, help="Routed experts instead of a dense FFN.")
@click.option("--experts", type=click.IntRange(2, 4_096), default=16, show_default=True)
@click.option("--experts-used", type=click.IntRange(1, 4_096), default=2, show_default=True)
@click.option(
    "--shared-experts",
    type=click.IntRange(0, 4_096),
    default=0,
    show_default=True,
    help="Always-active shared experts: DeepSeek's layout (implies --moe).",
)
@click.option(
    "--dense-lead",
    type=click.IntRange(0, 1_000_000),
    default=0,
    show_default=True,
    help="Leading layers with a dense FFN, as DeepSeek's first 3 (with --shared-experts).",
)
@click.option(
    "--quant",
    default="Q4_K_M",
    show_default=True,
    help="F16, or a llama-quantize type (Q4_K_M, Q8_0, IQ2_XXS...).",
)
@click.option(
    "--tensor-type",
    "tensor_types",
    multiple=True,
    metavar="PATTERN=TYPE",
    help="Per-tensor quant override passed to llama-quantize, repeatable; e.g. "
    "'ffn_.*_exps=iq2_xxs' with --quant Q4_K_M approximates a DeepSeek UD-IQ2_XXS mix.",
)
@click.option("--force", is_flag=True, help="Overwrite OUT.")
def synth(
    out: Path,
    params: float | None,
    bytes_per_token: float | None,
    moe: bool,
    experts: int,
    experts_used: int,
    shared_experts: int,
    dense_lead: int,
    quant: str,
    tensor_types: tuple[str, ...],
    force: bool,
) -> None:
    """Write a random-weight GGUF that llama.cpp loads and runs (dense, MoE, or DeepSeek-like
    MoE with shared experts), sized by parameters or by bytes read per token, to measure
    this box's real kernels on a shape it cannot download."""
    from tokbench.gguf.analysis import analyze
    from tokbench.gguf.reader import read_model
    from tokbench.gguf.synth import shape_for, synthesize

    if params is None and bytes_per_token is None:
        params = 1e8
    if dense_lead and not shared_experts:
        raise click.UsageError("--dense-lead needs --shared-experts (DeepSeek's layout)")
    s = shape_for(
        params,
        bytes_per_token=bytes_per_token,
        quant=quant,
        moe=moe,
        experts=experts,
        experts_used=experts_used,
        shared_experts=shared_experts,
        dense_lead=dense_lead,
    )
    err = stderr_console()
    err.print(
        f"[dim]writing {s.params() / 1e6:.0f}M parameters, {s.active_params() / 1e6:.0f}M "
        f"active (d_model {s.d_model}, {s.layers} layers"
        f"{f', {s.experts} experts, {s.experts_used} used' if s.experts else ''}"
        f"{f', {s.shared_experts} shared' if s.shared_experts else ''})...[/dim]"
    )
    synthesize(out, s, quant, tensor_types=tensor_types, force=force)
    a = analyze(read_model(out))
    target = f" (target {bytes_per_token / 1e6:.0f} MB)" if bytes_per_token else ""
    err.print(
        f"wrote {out}: {a.total_bytes / 1e6:.0f} MB, "
        f"{a.bytes_per_token / 1e6:.0f} MB read per token{target}",
        highlight=False,
    )
