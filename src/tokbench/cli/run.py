"""`tokbench run`: ask a suite's questions and measure every answer."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from tokbench.cli.checks import Number, timeout_options
from tokbench.cli.energy_options import energy_options
from tokbench.cli.options import (
    backend_option,
    connection_arg,
    db_option,
    emit,
    format_option,
    open_store,
    sampling_arg,
)
from tokbench.render.outputs import Outputs

if TYPE_CHECKING:
    from tokbench.core.config import Connection, Sampling

RUN: Outputs[Any] = Outputs()  # a finished suite run (`runs.suite.SuiteResult`)


@RUN.add("table", "console")
def _run_table(result: Any) -> list[Any]:
    from tokbench.render.terminal import run_view

    return [run_view(result.run, result.records)]


@RUN.add("json", "json")
def _run_json(result: Any) -> Any:
    from tokbench.render.run_folder import run_document

    return run_document(result.run, result.records)


@click.command()
@click.option(
    "--url",
    help="OpenAI-compatible server, e.g. http://127.0.0.1:1234/v1 "
    "(with or without /v1). Without it: the embedded llama.cpp engine.",
)
@backend_option
@click.option("-m", "--model", help="Model name on the server (default: the first it lists).")
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Read the API key from this environment variable (never stored or printed).",
)
@click.option(
    "--model-path",
    type=click.Path(exists=True, dir_okay=False),
    help="Embedded engine: run this GGUF file instead of the bundled Gemma 3 270M.",
)
@click.option(
    "-t",
    "--threads",
    type=click.IntRange(1, 4_096),
    help="Embedded engine threads (default: physical cores).",
)
@click.option(
    "--ctx",
    "n_ctx",
    type=click.IntRange(256, 2**21),
    default=4096,
    show_default=True,
    help="Embedded engine context size.",
)
@click.option(
    "--chat-format",
    help="Embedded engine: chat format when the GGUF has no template (gemma, chatml, llama-2...).",
)
@click.option(
    "-s",
    "--suite",
    default="seed5",
    show_default=True,
    help="seed5, seed5-en, or the path of a suite TOML file.",
)
@click.option(
    "-n",
    "-k",
    "--repeat",
    type=click.IntRange(1, 100_000),
    default=1,
    show_default=True,
    help="Ask every question this many times.",
)
@click.option(
    "--max-tokens", type=click.IntRange(1, 2**21), help="Override the suite's max_tokens."
)
@click.option("--temperature", type=Number(0, 100), help="Override the sampling temperature.")
@click.option("--top-p", type=Number(0, 1), help="Override top_p.")
@click.option("--top-k", type=click.IntRange(0, 1_000_000), help="Override top_k.")
@click.option("--seed", type=int, help="Sampling seed.")
@timeout_options[0]
@timeout_options[1]
@timeout_options[2]
@click.option(
    "--extra-body",
    metavar="JSON",
    help="Extra request fields for the server, e.g. '{\"min_p\": 0.05}' "
    "(merged over the suite's extra_body).",
)
@click.option(
    "--think/--no-think",
    default=None,
    help="Ollama: turn thinking on or off (default: the model's own behaviour).",
)
@click.option("--keep-alive", help="Ollama: keep_alive passed through, e.g. 10m or -1.")
@click.option(
    "--prompt-cache",
    is_flag=True,
    help="llama-server, vLLM: allow prompt-cache reuse (off by default, so repeated runs pay "
    "their full prefill).",
)
@click.option(
    "--gguf",
    type=click.Path(exists=True, dir_okay=False),
    help="The server's model file, when it is on this machine: the run then shows its "
    "speed bound and efficiency.",
)
@click.option(
    "--resume",
    metavar="RUN_ID",
    help="Continue an interrupted run; finished requests are kept, the rest are sent.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@energy_options
@click.option(
    "--allow-code",
    is_flag=True,
    help="Let a suite file's Python graders run (they run with your permissions).",
)
@click.option(
    "--allow-judge",
    "allow_judge",
    multiple=True,
    metavar="URL",
    help="Let a suite file's LLM judge at URL be asked (and be sent its API key); repeatable.",
)
@db_option
@format_option(*RUN.names)
@connection_arg
@sampling_arg
def run(
    connection: Connection,
    sampling: Sampling,
    suite: str,
    repeat: int,
    max_tokens: int | None,
    extra_body: str | None,
    gguf: str | None,
    resume: str | None,
    allow_code: bool,
    allow_judge: tuple[str, ...],
    no_progress: bool,
    energy: Any,
    db: str | None,
    fmt: str,
) -> None:
    """Ask every question of a suite, measure each answer and keep the results.

    Each request is stored the moment it completes, so Ctrl-C keeps what finished
    (resume with --resume RUN_ID). Every request's energy (with a power source, see
    --watts and --power-cmd) and the host's load (other processes, swapping) are kept too.
    """
    from tokbench.cli.options import stderr_console
    from tokbench.core.config import RunConfig
    from tokbench.core.records import RunSettings
    from tokbench.paths import runs_dir
    from tokbench.render.run_folder import write_run_folder
    from tokbench.runs.suite import run_suite

    config = RunConfig(
        suite=suite,
        connection=connection,
        sampling=sampling,
        repeat=repeat,
        max_tokens=max_tokens,
        extra_body=_json_object(extra_body),
        gguf=gguf,
        allow_code=allow_code,
        allow_judge=allow_judge,
    )
    err = stderr_console()
    store = open_store(db)
    show_progress = not no_progress and err.is_terminal

    def notify(msg: str) -> None:
        err.print(msg, style="dim", markup=False, highlight=False)

    if show_progress:
        from tokbench.cli.progress import ProgressObserver
        from tokbench.suites.loader import load_suite

        if resume:
            old = store.run(resume).config
            total = len(old.items) * old.run.repeat if isinstance(old, RunSettings) else 0
        else:
            total = len(load_suite(suite).items) * repeat
        observer = ProgressObserver(err, total)
        with observer:
            result = run_suite(
                config,
                store,
                runs_dir(),
                resume=resume,
                observer=observer,
                notify=notify,
                on_end=write_run_folder,
                energy=energy,
            )
    else:
        result = run_suite(
            config,
            store,
            runs_dir(),
            resume=resume,
            notify=notify,
            on_end=write_run_folder,
            energy=energy,
        )

    emit(RUN, fmt, result)
    err.print(f"results: {result.folder}", style="dim", markup=False, highlight=False)
    status = result.outcome.status
    if status == "interrupted":
        err.print(
            f"Interrupted: finished requests are kept. Resume with: "
            f"tokbench run --resume {result.run.id}",
            highlight=False,
        )
        sys.exit(130)
    if status == "failed":
        err.print("[red]No request succeeded.[/red]")
        sys.exit(1)


def _json_object(text: str | None) -> dict[str, object] | None:
    if text is None:
        return None
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--extra-body") from exc
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--extra-body")
    return value
