"""`tokbench bench`: llama-bench-quality numbers for any backend."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import click

from tokbench.cli.checks import MAX_SECONDS, MAX_TOKENS_PER_TEST, Number, seconds
from tokbench.cli.options import (
    connection_options,
    db_option,
    emit,
    energy_options,
    engine_options,
    format_option,
    grouped,
    open_store,
)
from tokbench.core.config import BENCH_TIMEOUT_S
from tokbench.render.outputs import Outputs

if TYPE_CHECKING:
    from tokbench.core.config import BenchConfig


def _ints(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give numbers separated by commas, e.g. 0,4096"
        ) from None
    low = 1 if param.name == "concurrency" else 0
    if any(v < low or v > MAX_TOKENS_PER_TEST for v in out):
        raise click.BadParameter(f"values must be {low} to {MAX_TOKENS_PER_TEST}")
    return out


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """`10m`, `90s`, `1h` -> seconds; a bare number -> a count of runs."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    v = value.strip().lower()
    try:
        if v and v[-1] in units:
            s = float(v[:-1]) * units[v[-1]]
            if not 0 < s <= MAX_SECONDS:  # nan fails both comparisons
                raise click.BadParameter(f"{value!r}: a duration up to {MAX_SECONDS / 3600:g} h")
            return ("time", s)
        n = int(v)
        if not 0 < n <= 1_000_000:
            raise click.BadParameter(f"{value!r}: a count from 1 to 1000000")
        return ("count", n)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use a duration like 10m or a count like 20") from None


@dataclass(frozen=True)
class _Benched:
    """A finished bench: its run, its summary, and the store its samples are in (read
    only by the llama-bench shapes)."""

    run: Any
    summary: Any
    store: Any


BENCH: Outputs[_Benched] = Outputs()


@BENCH.add("table", "console")
def _bench_table(b: _Benched) -> list[Any]:
    from tokbench.render.bench import table_view

    return [table_view(b.run, b.summary)]


@BENCH.add("md", "text")
def _bench_markdown(b: _Benched) -> str:
    from tokbench.render.bench import markdown

    return markdown(b.run, b.summary)


@BENCH.add("json", "json")
def _bench_json(b: _Benched) -> Any:
    from tokbench.render.bench import to_json

    return to_json(b.run, b.summary)


@BENCH.add("csv", "text")
def _bench_csv(b: _Benched) -> str:
    from tokbench.render.bench import to_csv

    return to_csv(b.run, b.summary)


@BENCH.add("llama-bench-md", "text")
def _llama_bench_markdown(b: _Benched) -> str:
    from tokbench.render.llama_bench import markdown

    return markdown(b.run, b.summary, b.store.bench_samples(b.run.id))


@BENCH.add("llama-bench-json", "text")
def _llama_bench_json(b: _Benched) -> str:
    from tokbench.render.llama_bench import json_records

    return json_records(b.run, b.summary, b.store.bench_samples(b.run.id))


def _bench_config(
    *,
    models: str | None,
    depths: tuple[int, ...],
    until_ci: float | None,
    max_time: float | None,
    concurrency: tuple[int, ...],
    soak: tuple[str, float] | None,
    **values: Any,
) -> Any:
    from tokbench.core.config import BenchConfig

    return BenchConfig(
        models=tuple(m.strip() for m in (models or "").split(",") if m.strip()),
        depths=depths or (0,),
        until_ci_pct=until_ci,
        max_time_s=max_time,
        concurrency=concurrency or (1,),
        soak_s=soak[1] if soak and soak[0] == "time" else None,
        soak_n=int(soak[1]) if soak and soak[0] == "count" else None,
        **values,
    )


@click.command()
@connection_options(
    url_help="Server to measure (OpenAI-compatible); without it: the embedded engine.",
    model=False,
    server_extras=False,
    default_timeout_s=BENCH_TIMEOUT_S,
)
@click.option(
    "-m",
    "--model",
    "models",
    help="Models, comma-separated: server model names, or "
    "GGUF paths for the embedded engine (default: the bundled model / the server's "
    "first).",
)
@engine_options(context=False)
@click.option(
    "-p",
    "--n-prompt",
    default="512",
    show_default=True,
    callback=_ints,
    help="Prompt lengths for ppN tests, comma-separated (0: none).",
)
@click.option(
    "-n",
    "--n-gen",
    default="128",
    show_default=True,
    callback=_ints,
    help="Generation lengths for tgN tests, comma-separated (0: none).",
)
@click.option(
    "-d",
    "--depth",
    "depths",
    default="0",
    show_default=True,
    callback=_ints,
    help="Context depths, comma-separated: tests run with this many tokens already in the context.",
)
@click.option(
    "-r",
    "--reps",
    type=click.IntRange(1, 100_000),
    default=5,
    show_default=True,
    help="Repetitions per test (without --until-ci).",
)
@click.option(
    "--warmup",
    type=click.IntRange(0, 1000),
    default=1,
    show_default=True,
    help="Warm-up runs per test, discarded (and counted).",
)
@click.option(
    "--until-ci",
    "until_ci",
    type=Number(0, 100, open_low=True, unit=" %"),
    help="Repeat until the 95%% CI half-width "
    "is within this %% of the mean (or --max-reps / --max-time).",
)
@click.option("--max-reps", type=click.IntRange(3, 100_000), default=30, show_default=True)
@click.option("--max-time", "max_time", type=seconds, help="Seconds per test, with --until-ci.")
@click.option(
    "-c",
    "--concurrency",
    default="1",
    show_default=True,
    callback=_ints,
    help="Simultaneous streams per level, e.g. 1,2,4,8 (servers only).",
)
@click.option(
    "--soak",
    callback=_duration,
    help="Run the tg test back to back for a time "
    "(10m) or a count (20) and report the drift of t/s.",
)
@click.option(
    "--prefix-cache",
    is_flag=True,
    help="Let repetitions reuse the server's prompt "
    "cache (off: every repetition pays its full prefill).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    metavar="[ADDRESS]",
    help="Spread the -c streams over the workers of a Ray cluster (ADDRESS: its head, "
    "e.g. 10.0.0.5:6379 after `ray start --head`; alone: a local cluster).",
)
@click.option(
    "--ray-workers",
    type=click.IntRange(1, 1_000_000),
    help="Ray worker processes (default: one per node, at least 2).",
)
@click.option("--resume", metavar="RUN_ID", help="Continue an interrupted bench run.")
@format_option(*BENCH.names)
@click.option("--no-progress", is_flag=True)
@energy_options
@db_option
@grouped(
    "cfg",
    _bench_config,
    ("connection", "engine", "energy", "models", "n_prompt", "n_gen", "depths", "reps",
     "warmup", "until_ci", "max_reps", "max_time", "concurrency", "soak", "prefix_cache"),
)  # fmt: skip
def bench(
    cfg: BenchConfig,
    ray_address: str | None,
    ray_workers: int | None,
    resume: str | None,
    fmt: str,
    no_progress: bool,
    db: str | None,
) -> None:
    """Controlled speed tests: ppN (prefill), tgN (generation), at context depths, with
    confidence intervals, concurrency levels and drift. Named like llama-bench:
    pp512, tg128, pp512 @ d4096."""
    from tokbench.cli.options import stderr_console
    from tokbench.core.records import BenchSettings
    from tokbench.render.safe import plain
    from tokbench.results.views import bench_summary
    from tokbench.runs.bench import config_of, with_defaults
    from tokbench.runs.launch import run_bench

    store = open_store(db)
    err = stderr_console()
    # a resumed bench: its stored settings, measured with these energy flags (not stored)
    cfg = replace(config_of(store.run(resume)), energy=cfg.energy) if resume else with_defaults(cfg)

    def notify(msg: str) -> None:
        err.print(msg, style="dim", markup=False, highlight=False)

    if ray_address is not None and (not cfg.url or not any(c > 1 for c in cfg.concurrency)):
        raise click.UsageError("--ray spreads concurrency levels: give --url and -c N")
    kw: dict[str, Any] = {
        "resume": resume,
        "ray_address": ray_address,
        "ray_workers": ray_workers,
        "notify": notify,
    }
    if not no_progress and err.is_terminal:
        from tokbench.cli.progress import BenchProgress

        with BenchProgress(err) as obs:
            run = run_bench(cfg, store, observer=obs, **kw)
    else:
        run = run_bench(cfg, store, **kw)

    emit(BENCH, fmt, _Benched(run, bench_summary(store, run), store))
    if run.status == "interrupted":
        err.print(
            f"Interrupted: measurements so far are kept. Resume with: "
            f"tokbench bench --resume {run.id}",
            highlight=False,
        )
        sys.exit(130)
    if run.status == "failed":
        errors = [s.note for s in store.bench_samples(run.id) if s.status == "error" and s.note]
        why = f": {errors[0]}" if errors else ""
        err.print(f"No measurement succeeded{plain(why)}", style="red", highlight=False)
        sys.exit(1)
    if isinstance(run.config, BenchSettings) and (ray := run.config.ray):
        for lv in ray.levels:
            err.print(
                f"c={lv.concurrency}: {lv.workers} Ray workers, clock offset "
                f"uncertainty <= {lv.clock_uncertainty_ms:.2f} ms",
                highlight=False,
            )
    err.print(f"run {run.id}", style="dim", highlight=False)
