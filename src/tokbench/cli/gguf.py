"""`tokbench gguf inspect` and `tokbench gguf merge`."""

from __future__ import annotations

from pathlib import Path

import click

from tokbench.cli.options import json_option, print_json, stderr_console, stdout_console


@click.group()
def gguf() -> None:
    """Read GGUF model files: what a token costs, and merging split files."""


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
@json_option
def inspect(path: Path, kv_cache: str, show_tensors: bool, as_json: bool) -> None:
    """Metadata, tensor classes and the bytes read per generated token (MoE-aware),
    across all shards of a split model."""
    from dataclasses import asdict

    from tokbench.gguf import read_model
    from tokbench.gguf_analysis import analyze, kv_bytes_per_token
    from tokbench.render.gguf import inspect_view

    model = read_model(path)
    a = analyze(model)
    if as_json:
        meta = {k: v for k, v in model.metadata.items() if not isinstance(v, dict)}
        print_json(
            {
                "path": str(path),
                "shards": [str(s.path) for s in model.shards],
                "metadata": meta,
                "analysis": asdict(a),
                "kv_bytes_per_token": kv_bytes_per_token(a, kv_cache),
                "kv_cache": kv_cache,
                "tensors": [asdict(t) for t in model.tensors] if show_tensors else None,
            }
        )
        return
    stdout_console().print(inspect_view(model, a, kv_cache, show_tensors))


@gguf.command()
@click.argument("first", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def merge(first: Path, out: Path, force: bool) -> None:
    """Merge llama.cpp split files (FIRST is …-00001-of-0000N.gguf) into OUT, streaming."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from tokbench.gguf_merge import merge as do_merge

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


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--params", type=float, default=100e6, show_default=True, help="Total parameters, e.g. 5e8."
)
@click.option("--moe", is_flag=True, help="Routed experts instead of a dense FFN.")
@click.option("--experts", type=click.IntRange(2), default=16, show_default=True)
@click.option("--experts-used", type=click.IntRange(1), default=2, show_default=True)
@click.option(
    "--quant",
    default="Q4_K_M",
    show_default=True,
    help="F16, or a llama-quantize type (Q4_K_M, Q8_0, IQ2_XXS...).",
)
@click.option("--force", is_flag=True, help="Overwrite OUT.")
def synth(
    out: Path, params: float, moe: bool, experts: int, experts_used: int, quant: str, force: bool
) -> None:
    """Write a random-weight GGUF that llama.cpp loads and runs (dense or MoE), to measure
    this box's real kernels on a shape it cannot download."""
    from tokbench.gguf import read_model
    from tokbench.gguf_analysis import analyze
    from tokbench.synth import shape_for, synthesize

    s = shape_for(params, moe=moe, experts=experts, experts_used=experts_used)
    err = stderr_console()
    err.print(
        f"[dim]writing {s.params() / 1e6:.0f}M parameters "
        f"(d_model {s.d_model}, {s.layers} layers"
        f"{f', {s.experts} experts, {s.experts_used} used' if s.experts else ''})...[/dim]"
    )
    synthesize(out, s, quant, force=force)
    a = analyze(read_model(out))
    err.print(
        f"wrote {out}: {a.total_bytes / 2**20:.0f} MiB, "
        f"{a.bytes_per_token / 2**20:.0f} MiB read per token",
        highlight=False,
    )
