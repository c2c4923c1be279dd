"""`tokbench hw` and `tokbench estimate`."""

from __future__ import annotations

from pathlib import Path

import click

from tokbench.cli.options import json_option, print_json, stderr_console, stdout_console


@click.command()
@click.option(
    "--bandwidth",
    "measure_bw",
    is_flag=True,
    help="Measure memory read bandwidth (one thread and all cores); the result is "
    "kept and used for every run's speed bound.",
)
@click.option(
    "--channels",
    type=click.IntRange(1),
    help="Populated memory channels (when dmidecode can't tell).",
)
@click.option("--mts", type=click.IntRange(100), help="Configured memory speed in MT/s.")
@json_option
def hw(measure_bw: bool, channels: int | None, mts: int | None, as_json: bool) -> None:
    """What this machine is made of, as far as decode speed is concerned."""
    from tokbench.hw import probe
    from tokbench.hwstore import save_bandwidth

    info = probe(channels, mts)
    if measure_bw:
        from dataclasses import asdict

        from tokbench.bandwidth import measure

        stderr_console().print("[dim]measuring memory bandwidth (a few seconds)...[/dim]")
        bw = measure()
        info["measured_bandwidth"] = asdict(bw)
        save_bandwidth(bw.all_cores_gbs)
    if as_json:
        print_json(info)
        return
    from rich.table import Table

    t = Table(show_header=False, box=None)
    t.add_column(style="dim")
    t.add_column()
    for k, v in info.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif isinstance(v, list):
            v = "; ".join(str(x) for x in v) or "none"
        t.add_row(k, "unknown" if v is None else str(v))
    stdout_console().print(t)


@click.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--bandwidth",
    "bandwidth_gbs",
    type=click.FloatRange(0.1),
    help="Memory bandwidth in GB/s (default: the last `tokbench hw --bandwidth`).",
)
@click.option(
    "--ctx",
    "context",
    type=click.IntRange(0),
    default=4096,
    show_default=True,
    help="Context length whose KV cache is read for every token.",
)
@click.option(
    "--kv-cache",
    type=click.Choice(["f16", "q8_0", "q4_0", "f32", "bf16"]),
    default="f16",
    show_default=True,
)
@json_option
def estimate(
    model: Path, bandwidth_gbs: float | None, context: int, kv_cache: str, as_json: bool
) -> None:
    """The decode-speed bound of a GGUF model on this (or a given) memory bandwidth."""
    from dataclasses import asdict

    import psutil

    from tokbench.errors import TokbenchError
    from tokbench.estimate import estimate as run_estimate
    from tokbench.gguf import read_model
    from tokbench.gguf_analysis import KV_TYPE_BYTES, analyze
    from tokbench.hwstore import load_bandwidth

    bw = bandwidth_gbs or load_bandwidth()
    if bw is None:
        raise TokbenchError(
            "no bandwidth known: pass --bandwidth GB/s or run `tokbench hw --bandwidth` once"
        )
    m = read_model(model)
    a = analyze(m)
    kv = (a.kv_elements_per_token or 0) * KV_TYPE_BYTES[kv_cache]
    e = run_estimate(
        weights_bytes_per_token=a.bytes_per_token,
        bandwidth_gbs=bw,
        moe=bool(a.experts),
        kv_bytes_per_token_per_ctx=kv,
        context=context,
        model_bytes=m.total_bytes,
        ram_bytes=psutil.virtual_memory().total,
    )
    if as_json:
        print_json({"model": str(model), **asdict(e)})
        return
    c = stdout_console()
    c.print(
        f"{model.name}: {a.bytes_per_token / 1e9:.2f} GB read per token"
        f" + {e.kv_bytes_per_token / 1e9:.2f} GB of KV at {context} tokens"
    )
    c.print(
        f"bound at {bw:.1f} GB/s: {e.bound_weights_tps:.2f} tok/s (weights only), "
        f"{e.bound_with_kv_tps:.2f} tok/s with the KV cache"
    )
    c.print(
        f"expected: {e.expected_low_tps:.2f}-{e.expected_high_tps:.2f} tok/s "
        f"(efficiency {e.efficiency_profile}: {e.efficiency_source})"
    )
    if e.fits is not None:
        c.print(
            f"memory: needs {e.memory_needed_bytes / 1e9:.1f} GB: "  # type: ignore[operator]
            + ("fits in RAM" if e.fits else str(e.note))
        )
