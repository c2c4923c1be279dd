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
@click.argument("model")
@click.option(
    "--quant",
    help="For a built-in shape (deepseek-r1): Q8_0, Q4_K_M, Q4_K_S, Q2_K_L, UD-IQ2_XXS, UD-IQ1_S.",
)
@click.option(
    "--bandwidth",
    "bandwidth_gbs",
    type=click.FloatRange(0.1),
    help="Memory bandwidth in GB/s (default: the last `tokbench hw --bandwidth`).",
)
@click.option("--hw", "preset", help="A hardware preset instead (see `tokbench plan`).")
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
    model: str,
    quant: str | None,
    bandwidth_gbs: float | None,
    preset: str | None,
    context: int,
    kv_cache: str,
    as_json: bool,
) -> None:
    """The decode-speed bound of MODEL (a GGUF file, or the built-in shape deepseek-r1 with
    --quant) on the measured host, a given bandwidth or a hardware preset."""
    from dataclasses import asdict

    import psutil

    from tokbench.errors import TokbenchError
    from tokbench.estimate import estimate as run_estimate
    from tokbench.gguf import read_model
    from tokbench.gguf_analysis import KV_TYPE_BYTES, analyze
    from tokbench.hwstore import load_bandwidth
    from tokbench.plan import PRESETS, SHAPES

    ram: float = psutil.virtual_memory().total
    bw = bandwidth_gbs
    if preset:
        if preset not in PRESETS:
            raise TokbenchError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        bw, ram = bw or PRESETS[preset].bandwidth_gbs, PRESETS[preset].ram_bytes
    bw = bw or load_bandwidth()
    if bw is None:
        raise TokbenchError(
            "no bandwidth known: pass --bandwidth GB/s or --hw PRESET, or run "
            "`tokbench hw --bandwidth` once"
        )
    if model in SHAPES:
        shape = SHAPES[model]
        if quant not in shape.quants:
            raise TokbenchError(f"{model} needs --quant, one of {', '.join(shape.quants)}")
        per_token, file_bytes, _experts = shape.quants[quant]
        kv_ctx = shape.kv_bytes_per_token["mla"] * KV_TYPE_BYTES[kv_cache] / 2
        moe, params = shape.moe, shape.active_params
    else:
        path = Path(model)
        if not path.is_file():
            raise TokbenchError(
                f"{model} is neither a GGUF file nor a built-in shape ({', '.join(SHAPES)})"
            )
        m = read_model(path)
        a = analyze(m)
        per_token, file_bytes = a.bytes_per_token, float(m.total_bytes)
        kv_ctx = (a.kv_elements_per_token or 0) * KV_TYPE_BYTES[kv_cache]
        moe = bool(a.experts)
        # prefill computes logits for the last token only: the output matrix hardly counts
        params = a.active_params - (
            a.params_by_class.get("output", 0)
            or (a.params_by_class.get("embeddings", 0) if a.tied_output else 0)
        )
    profile = None
    if preset:  # the preset's efficiency class (the seed's E5 box: its IQ profile)
        cpu = PRESETS[preset].cpu_class
        profile = ("moe-old-avx2-iq" if moe else "dense") if cpu == "e5-avx2" else cpu
    from tokbench.hw import probe

    host = probe()
    # peak FP32 throughput: cores x GHz x FLOP/cycle (2 FMA units: AVX2 32, AVX-512 64)
    per_cycle = 64 if host["isa"]["avx512f"] else 32 if host["isa"]["avx2"] else 8
    gflops = (host["cores"] or 1) * (host["mhz"] or 2000) / 1000 * per_cycle
    e = run_estimate(
        compute_gflops=None if preset else gflops,
        weights_bytes_per_token=per_token,
        bandwidth_gbs=bw,
        moe=moe,
        kv_bytes_per_token_per_ctx=kv_ctx,
        context=context,
        model_bytes=file_bytes,
        ram_bytes=ram,
        active_params=params,
        profile=profile,
    )
    if as_json:
        print_json({"model": model, "quant": quant, **asdict(e)})
        return
    c = stdout_console()
    c.print(
        f"{model}: {per_token / 1e9:.2f} GB read per token"
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
    if e.prefill_tps:
        c.print(
            f"prefill, compute estimate: ~{e.prefill_tps:,.0f} tok/s at this CPU's peak FP32 "
            f"({gflops:,.0f} GFLOP/s, 2 FLOP per weight, {params / 1e9:.2f} B weights a "
            "token); llama.cpp's int8 kernels can beat FP32 peak, its IQ kernels fall short"
        )
    if e.memory_needed_bytes is not None:
        c.print(
            f"memory: needs {e.memory_needed_bytes / 1e9:.1f} GB: "
            + ("fits in RAM" if e.fits else str(e.note))
        )


@click.command()
@click.option(
    "--model",
    "shape",
    type=click.Choice(["deepseek-r1"]),
    default="deepseek-r1",
    show_default=True,
    help="A built-in model shape.",
)
@click.option("--quant", "quants", help="Quants, comma-separated (default: all known).")
@click.option("--box", "boxes", help="Hardware presets, comma-separated (default: all).")
@click.option(
    "--price",
    "prices",
    multiple=True,
    metavar="BOX=AMOUNT",
    help="What a box costs you (any currency), for price per tok/s; repeatable.",
)
@click.option("--ctx", "context", type=click.IntRange(0), default=1000, show_default=True)
@click.option(
    "--kv",
    "kv_regime",
    type=click.Choice(["mla", "pre-mla"]),
    default="mla",
    show_default=True,
    help="KV-cache layout: MLA GGUFs, or the older expanded one.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "md", "json"]),
    default="table",
    show_default=True,
)
def plan(
    shape: str,
    quants: str | None,
    boxes: str | None,
    prices: tuple[str, ...],
    context: int,
    kv_regime: str,
    fmt: str,
) -> None:
    """Hardware options for a model: predicted decode tok/s range, whether it fits in RAM,
    and price per tok/s. Presets: seed-4ch, seed-1ch, xeon-sp-2s, epyc-8ch, ddr5-12ch,
    epyc-8ch+gpu."""
    from dataclasses import asdict

    from tokbench.errors import TokbenchError
    from tokbench.plan import PRESETS, SHAPES, predict

    s = SHAPES[shape]
    qs = [q.strip() for q in quants.split(",")] if quants else list(s.quants)
    bs = [b.strip() for b in boxes.split(",")] if boxes else list(PRESETS)
    for q in qs:
        if q not in s.quants:
            raise TokbenchError(f"unknown quant {q!r}; known: {', '.join(s.quants)}")
    for b in bs:
        if b not in PRESETS:
            raise TokbenchError(f"unknown box {b!r}; presets: {', '.join(PRESETS)}")
    price: dict[str, float] = {}
    for p in prices:
        name, _, amount = p.partition("=")
        try:
            price[name] = float(amount)
        except ValueError:
            raise TokbenchError(f"--price {p!r}: use BOX=AMOUNT, e.g. seed-4ch=2000") from None
    rows = [
        predict(s, q, PRESETS[b], context=context, kv_regime=kv_regime, price=price.get(b))
        for b in bs
        for q in qs
    ]
    if fmt == "json":
        print_json([asdict(r) for r in rows])
        return
    head = ["box", "quant", "bound tok/s", "expected tok/s", "fits in RAM", "price / tok/s"]
    cells = [
        [
            r.box,
            r.quant,
            f"{r.bound_tps:.2f}",
            f"{r.low_tps:.2f}-{r.high_tps:.2f}",
            "yes" if r.fits else "no (pages from disk)",
            f"{r.price_per_tps:,.0f}" if r.price_per_tps else "–",
        ]
        for r in rows
    ]
    if fmt == "md":
        click.echo("| " + " | ".join(head) + " |")
        click.echo("|" + "---|" * len(head))
        for c in cells:
            click.echo("| " + " | ".join(c) + " |")
        return
    from rich.table import Table

    t = Table(title=f"{s.name}, context {context}, KV {kv_regime}", title_justify="left")
    for h in head:
        t.add_column(h, justify="left" if h in ("box", "quant", "fits in RAM") else "right")
    for c in cells:
        t.add_row(*c)
    t.caption = "; ".join(f"{b}: {PRESETS[b].description}" for b in bs)
    stdout_console().print(t)
