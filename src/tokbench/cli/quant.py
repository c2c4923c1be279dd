"""`tokbench quant`: quant quality (perplexity, KL divergence, same top token) of candidate
GGUFs against a reference, beside their speed; stored as a run of kind "quant"."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tokbench.cli.checks import Number
from tokbench.cli.options import (
    db_option,
    emit,
    format_option,
    open_store,
    print_text,
    stderr_console,
)
from tokbench.render.outputs import Outputs

if TYPE_CHECKING:  # rich loads only when a bar is drawn
    from rich.progress import TaskID

_file = click.Path(dir_okay=False, path_type=Path)


class _Progress:
    """Windows scored, per model, on stderr."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("windows"),
            console=stderr_console(),
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        from tokbench.render.safe import plain

        if what not in self.tasks:
            label = "reference (built once)" if what == "reference" else plain(what)[:34]
            self.tasks[what] = self.bar.add_task(label, total=total)
        self.bar.update(self.tasks[what], completed=done)


QUANT: Outputs[Any] = Outputs()  # one comparison (`quant.view.QuantView`)


@QUANT.add("table", "console")
def _quant_table(view: Any) -> list[Any]:
    from tokbench.render.quant import table

    return [table([view])]


@QUANT.add("md", "text")
def _quant_markdown(view: Any) -> str:
    from tokbench.render.quant import markdown

    return markdown([view])


@QUANT.add("json", "json")
def _quant_json(view: Any) -> Any:
    from tokbench.render.quant import to_json

    return to_json(view)


@click.command()
@click.argument("models", nargs=-1, metavar="REF.gguf [CAND.gguf...]")
@click.option(
    "--url",
    help="Measure the model a vLLM server serves against --reference (prompt_logprobs); "
    "other servers are refused with the reason.",
)
@click.option(
    "--model", "server_model", help="With --url: the served model (default: its only one)."
)
@click.option(
    "--http-top-n",
    type=Number(1, 1 << 20, integer=True),
    help="With --url: prompt log-probabilities asked per position (default: the reference's "
    "top-k; vLLM caps it at its --max-logprobs).",
)
@click.option(
    "--text",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A UTF-8 text to score (default: the built-in English/Chinese text).",
)
@click.option(
    "--ctx",
    "n_ctx",
    type=Number(16, 1 << 20, integer=True),
    default=512,
    show_default=True,
    help="Window length in tokens; the second half is scored.",
)
@click.option(
    "--chunks",
    type=Number(1, 1 << 30, integer=True),
    help="At most this many windows (default: the whole text).",
)
@click.option(
    "--mass",
    type=Number(0.5, 1.0),
    default=0.999,
    show_default=True,
    help="The reference file keeps per position the reference's likeliest tokens until they "
    "cover this much probability; the KLD against it is printed ≈ with its upper bound.",
)
@click.option(
    "--max-k",
    type=Number(1, 4096, integer=True),
    default=2048,
    show_default=True,
    help="At most this many tokens per position in the reference file (a flat distribution "
    "would need thousands to cover --mass).",
)
@click.option(
    "--reference",
    "reference_file",
    type=_file,
    help="A reference file (--save-reference) to compare against: the reference "
    "model is not run again. REF.gguf, when given, must be the model it was built from.",
)
@click.option(
    "--save-reference",
    type=_file,
    help="Also write the reference file here (to reuse later or elsewhere).",
)
@click.option(
    "--full-kld",
    is_flag=True,
    help="Run the reference beside each candidate for the exact full-vocabulary "
    "KLD (and the top-k KLD's error), instead of the reference file.",
)
@click.option(
    "--speed/--no-speed",
    default=True,
    show_default=True,
    help="Also measure each GGUF's decode tok/s (tg32, 3 repetitions after a warm-up, the "
    "same engine and threads), for the table and the KLD/speed chart. On by default: it "
    "costs a few seconds per model beside scoring the whole text.",
)
@click.option(
    "--threads", type=Number(1, 4096, integer=True), help="CPU threads (default: physical cores)."
)
@db_option
@format_option(*QUANT.names)
def quant(
    models: tuple[str, ...],
    url: str | None,
    server_model: str | None,
    http_top_n: int | None,
    text: Path | None,
    n_ctx: int,
    chunks: int | None,
    mass: float,
    max_k: int,
    reference_file: Path | None,
    save_reference: Path | None,
    full_kld: bool,
    speed: bool,
    threads: int | None,
    db: str | None,
    fmt: str,
) -> None:
    """Quant quality of CAND.gguf files against REF.gguf (or a saved reference file given
    first): perplexity, KL divergence and same-top-token rate, teacher-forced on the
    embedded engine, beside each file's size, bytes read per token, the decode bound here
    and the measured decode tok/s. The reference is scored once and cached."""
    from tokbench.quant.compare import compare_quants

    if url:
        _over_http(url, models, reference_file, server_model, text, chunks, http_top_n, db, fmt)
        return
    store = open_store(db)
    progress = _Progress()
    with progress.bar:
        view = compare_quants(
            list(models),
            reference_file=reference_file,
            save_reference=save_reference,
            text=text,
            n_ctx=n_ctx,
            chunks=chunks,
            mass=mass,
            max_k=max_k,
            full_kld=full_kld,
            speed=speed,
            threads=threads,
            store=store,
            progress=progress,
        )
    _show(view, fmt)


def _show(view: Any, fmt: str) -> None:
    if view.run is None:
        print_text(
            f"wrote the reference file {view.reference.file_path} "
            f"({view.reference.scored_tokens} scored tokens)",
            err=True,
            nl=True,
        )
    emit(QUANT, fmt, view)
    if view.run is not None:
        click.echo(f"stored as run {view.run.id} (tokbench show {view.run.id})", err=True)


def _over_http(url: str, models: tuple[str, ...], reference_file: Path | None,
               server_model: str | None, text: Path | None, chunks: int | None,
               top_n: int | None, db: str | None, fmt: str) -> None:
    from tokbench.errors import TokbenchError
    from tokbench.quant.http import bounded_note, measure_server, refuse_server

    refuse_server(url)  # a server without prompt-token log-probabilities: its one sentence
    if models:
        if reference_file is not None or len(models) > 1:
            raise TokbenchError("with --url the candidate is the served model: give only the "
                                "reference file (or --reference), no GGUF")
        reference_file = Path(models[0])
    store = open_store(db)
    progress = _Progress()
    with progress.bar:
        view = measure_server(url, reference_file, model=server_model, text=text,
                              chunks=chunks, top_n=top_n, store=store, progress=progress)
    _show(view, fmt)
    note = bounded_note(view)
    if note:
        print_text(note, err=True, nl=True)
