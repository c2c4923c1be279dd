"""`tokbench hw`, `tokbench estimate` and `tokbench plan`: parse options, call one library
function, render. Library imports sit inside the commands for `tokbench --help` start-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tokbench.cli.checks import Number
from tokbench.cli.options import (
    db_option,
    emit,
    format_option,
    open_store,
    stderr_console,
)
from tokbench.hardware.calibration import CPU_CLASSES
from tokbench.render.outputs import Outputs

HOST: Outputs[Any] = Outputs()  # `hw`: the host survey
ESTIMATE: Outputs[Any] = Outputs()
PLAN: Outputs[Any] = Outputs()


@HOST.add("table", "console")
def _host_table(info: Any) -> list[Any]:
    from tokbench.render.hardware import host_table

    return [host_table(info)]


@HOST.add("md", "text")
def _host_markdown(info: Any) -> str:
    from tokbench.render.hardware import host_markdown

    return host_markdown(info)


@HOST.add("json", "json")
def _host_json(info: Any) -> Any:
    return info.to_json()


@ESTIMATE.add("table", "console")
def _estimate_lines(e: Any) -> list[Any]:
    from rich.text import Text

    from tokbench.render.hardware import estimate_lines

    return [Text(line) for line in estimate_lines(e)]  # as written: no highlighting


@ESTIMATE.add("md", "text")
def _estimate_markdown(e: Any) -> str:
    from tokbench.render.hardware import estimate_markdown

    return estimate_markdown(e)


@ESTIMATE.add("json", "json")
def _estimate_json(e: Any) -> Any:
    from tokbench.render.hardware import estimate_json

    return estimate_json(e)


@PLAN.add("table", "console")
def _plan_table(p: Any) -> list[Any]:
    from tokbench.render.hardware import plan_table

    return [plan_table(p)]


@PLAN.add("md", "text")
def _plan_markdown(p: Any) -> str:
    from tokbench.render.hardware import plan_markdown

    return plan_markdown(p)


@PLAN.add("json", "json")
def _plan_json(p: Any) -> Any:
    from tokbench.render.hardware import plan_json

    return plan_json(p)


F = TypeVar("F", bound=Callable[..., Any])


def _ram(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    from tokbench.hardware.presets import parse_ram

    return parse_ram(value) if value is not None else None


def box_options(*, bandwidth_help: str, ssd_help: str) -> Callable[[F], F]:
    """What describes a box: bandwidth, RAM, SSD, CPU class and sockets."""
    options = (
        click.option("--bandwidth", "bandwidth_gbs", type=Number(0.1, 1e6), help=bandwidth_help),
        click.option(
            "--ram",
            "ram_bytes",
            metavar="SIZE",
            callback=_ram,
            help="The box's memory: GB (768), or 768GB, 512GiB, 1.5TB. A model that does "
            "not fit is predicted from SSD paging.",
        ),
        click.option("--ssd", "ssd_gbs", type=Number(0.01, 1e6), help=ssd_help),
        click.option(
            "--cpu",
            "cpu_class",
            type=click.Choice(list(CPU_CLASSES)),
            help="The box's CPU class, which picks the published points its efficiency is "
            "calibrated on: " + "; ".join(f"{k}: {v}" for k, v in CPU_CLASSES.items()) + ".",
        ),
        click.option(
            "--sockets",
            type=click.IntRange(1, 8),
            help="CPU sockets; llama.cpp reads across NUMA nodes on more than one.",
        ),
    )

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _comma_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _prices(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> Any:
    from tokbench.hardware.plan import parse_prices

    return parse_prices(value)


@click.command()
@click.option(
    "--bandwidth",
    "measure_bw",
    is_flag=True,
    help="Measure memory read bandwidth (one thread and all cores) and the read bandwidth "
    "of the disk that holds the models (sequential and 4 KiB random); the results are kept "
    "and used for every run's speed bound and for `tokbench estimate`.",
)
@click.option(
    "--channels",
    type=click.IntRange(1, 64),
    help="Populated memory channels (when dmidecode can't tell).",
)
@click.option("--mts", type=click.IntRange(100, 100_000), help="Configured memory speed in MT/s.")
@click.option(
    "--disk",
    type=click.Path(exists=True, path_type=Path),
    help="A folder or model file on the disk to measure with --bandwidth "
    "(default: the tokbench data dir).",
)
@click.option(
    "--disk-mb",
    type=click.IntRange(0, 65536),
    default=512,
    show_default=True,
    help="Size of the temporary file the disk test writes and reads back; 0 skips the test.",
)
@format_option(*HOST.names)
def hw(
    measure_bw: bool,
    channels: int | None,
    mts: int | None,
    disk: Path | None,
    disk_mb: int,
    fmt: str,
) -> None:
    """What this machine is made of, as far as decode speed is concerned."""
    from tokbench.hardware.survey import survey

    if measure_bw:
        stderr_console().print("[dim]measuring memory and disk bandwidth (seconds)...[/dim]")
    info = survey(
        channels, mts, measure_bandwidth=measure_bw, disk=disk, disk_bytes=disk_mb * 2**20
    )
    emit(HOST, fmt, info)


@click.command()
@click.argument("model")
@click.option(
    "--quant",
    help="For a built-in shape (deepseek-r1): Q8_0, Q4_K_M, Q4_K_S, Q2_K_L, UD-IQ2_XXS, UD-IQ1_S.",
)
@box_options(
    bandwidth_help="Memory bandwidth in GB/s of one socket (default: the preset's, or the "
    "last `tokbench hw --bandwidth`). A given bandwidth describes another box: this host's "
    "own benched efficiency is then not used.",
    ssd_help="SSD sequential read in GB/s, for a model larger than RAM (default: the "
    "preset's, or the last `tokbench hw --bandwidth`, else 0.5 for a SATA SSD).",
)
@click.option("--hw", "preset", help="A hardware preset instead (see `tokbench plan`).")
@click.option(
    "--ctx",
    "context",
    type=click.IntRange(0, 16_777_216),
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
@click.option(
    "--kv",
    type=click.Choice(["mla", "pre-mla"]),
    default="mla",
    show_default=True,
    help="KV-cache layout of a built-in shape: MLA GGUFs, or the older expanded one.",
)
@db_option
@format_option(*ESTIMATE.names)
def estimate(
    model: str,
    quant: str | None,
    bandwidth_gbs: float | None,
    ram_bytes: float | None,
    ssd_gbs: float | None,
    cpu_class: str | None,
    sockets: int | None,
    preset: str | None,
    context: int,
    kv_cache: str,
    kv: str,
    db: str | None,
    fmt: str,
) -> None:
    """The decode-speed bound and expected range of MODEL (a GGUF file, or the built-in shape
    deepseek-r1 with --quant) on the measured host, a described box (--bandwidth, --ram,
    --ssd, --cpu) or a hardware preset. A model larger than RAM is predicted from SSD
    paging. On this host at its measured bandwidth, the efficiency of your own `tokbench
    bench` runs of a model of the same kind and size replaces the published one."""
    from tokbench.hardware.estimate import estimate as run_estimate

    e = run_estimate(
        model,
        quant=quant,
        bandwidth_gbs=bandwidth_gbs,
        preset=preset,
        context=context,
        kv=kv,
        kv_cache=kv_cache,
        ssd_gbs=ssd_gbs,
        ram_bytes=ram_bytes,
        cpu_class=cpu_class,
        sockets=sockets,
        measured=() if preset or bandwidth_gbs else _own_efficiency(db),
    )
    emit(ESTIMATE, fmt, e)


@click.command()
@click.option(
    "--model",
    "shape",
    type=click.Choice(["deepseek-r1"]),
    default="deepseek-r1",
    show_default=True,
    help="A built-in model shape.",
)
@click.option(
    "--quant", "quants", callback=_comma_list, help="Quants, comma-separated (default: all)."
)
@click.option(
    "--box", "boxes", callback=_comma_list, help="Hardware presets, comma-separated (default: all)."
)
@click.option(
    "--price",
    "prices",
    multiple=True,
    metavar="BOX=AMOUNT",
    callback=_prices,
    help="What a box costs you (any currency), for price per tok/s; repeatable.",
)
@click.option(
    "--kwh-price",
    type=float,  # checked by the energy options, with the other cost flags
    metavar="P",
    help="Electricity price per kWh: adds the electricity cost of a million tokens per box "
    "(from the preset's typical wall power, its source in the caption).",
)
@click.option("--currency", default="", help="A label for --kwh-price, e.g. EUR (shown only).")
@click.option(
    "--ctx", "context", type=click.IntRange(0, 16_777_216), default=4096, show_default=True
)
@click.option(
    "--kv",
    "kv_regime",
    type=click.Choice(["mla", "pre-mla"]),
    default="mla",
    show_default=True,
    help="KV-cache layout: MLA GGUFs, or the older expanded one.",
)
@box_options(
    bandwidth_help="Plan a box you describe, of this memory bandwidth in GB/s (one "
    "socket's), with --ram (and --ssd, --cpu, --sockets); alone, or beside the --box presets.",
    ssd_help="SSD sequential read in GB/s: of the described box, or in place of each preset's.",
)
@format_option(*PLAN.names)
def plan(
    shape: str,
    quants: list[str],
    boxes: list[str],
    prices: dict[str, float],
    kwh_price: float | None,
    currency: str,
    context: int,
    kv_regime: str,
    bandwidth_gbs: float | None,
    ram_bytes: float | None,
    ssd_gbs: float | None,
    cpu_class: str | None,
    sockets: int | None,
    fmt: str,
) -> None:
    """Hardware options for a model: predicted decode tok/s range (from SSD paging where it
    does not fit in RAM), the published points each range rests on, and price per tok/s.
    Presets: seed-4ch, seed-1ch, xeon-sp-2s, epyc-8ch, ddr5-12ch, epyc-8ch+gpu; without
    --bandwidth, --ram, --ssd, --cpu and --sockets replace the presets' own."""
    from tokbench.hardware.plan import plan as make_plan

    p = make_plan(
        shape,
        quants,
        boxes,
        prices,
        context=context,
        kv=kv_regime,
        kwh_price=kwh_price,
        currency=currency.strip(),
        bandwidth_gbs=bandwidth_gbs,
        ram_bytes=ram_bytes,
        ssd_gbs=ssd_gbs,
        cpu_class=cpu_class,
        sockets=sockets,
    )
    emit(PLAN, fmt, p)


def _own_efficiency(db: str | None) -> Any:
    """This host's benched efficiency, from the store if there is one (none is no error)."""
    from tokbench.hardware.probe import host_name
    from tokbench.paths import default_db
    from tokbench.results.efficiency import own_efficiency

    if db is None and not Path(default_db()).exists():
        return ()
    store = open_store(db)
    try:
        return own_efficiency(store, host_name())
    finally:
        store.close()
