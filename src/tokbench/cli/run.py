"""`tokbench run`: ask a suite's questions and measure every answer."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from tokbench.cli.options import (
    connection_options,
    db_option,
    emit,
    energy_options,
    engine_options,
    format_option,
    open_store,
    run_config_arg,
    sampling_options,
)
from tokbench.render.outputs import Outputs

if TYPE_CHECKING:
    from tokbench.core.config import RunConfig

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
@connection_options(
    url_help="OpenAI-compatible server, e.g. http://127.0.0.1:1234/v1 "
    "(with or without /v1). Without it: the embedded llama.cpp engine."
)
@engine_options()
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
@sampling_options()
@click.option(
    "--extra-body",
    metavar="JSON",
    help="Extra request fields for the server, e.g. '{\"min_p\": 0.05}' "
    "(merged over the suite's extra_body).",
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
@run_config_arg("suite", "repeat", "allow_code", "allow_judge")
def run(config: RunConfig, resume: str | None, no_progress: bool, db: str | None, fmt: str) -> None:
    """Ask every question of a suite, measure each answer and keep the results.

    Each request is stored the moment it completes, so Ctrl-C keeps what finished
    (resume with --resume RUN_ID). Every request's energy (with a power source, see
    --watts and --power-cmd) and the host's load (other processes, swapping) are kept too.
    The embedded engine takes llama.cpp's settings (-fa, -ctk/-ctv, -b/-ub, --mmap...),
    so a `tokbench tune` recommendation runs as printed; they are stored with the run.
    """
    from tokbench.cli.options import stderr_console
    from tokbench.core.records import RunSettings
    from tokbench.paths import runs_dir
    from tokbench.render.run_folder import write_run_folder
    from tokbench.runs.suite import run_suite

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
            total = len(load_suite(config.suite).items) * config.repeat
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
            )
    else:
        result = run_suite(
            config,
            store,
            runs_dir(),
            resume=resume,
            notify=notify,
            on_end=write_run_folder,
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
