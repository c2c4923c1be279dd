"""`tokbench history`, `tokbench show` and `tokbench path`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from tokbench.cli.checks import Number
from tokbench.cli.options import (
    db_option,
    format_option,
    open_store,
    print_json,
    print_text,
    stdout_console,
)


@click.command()
@click.option(
    "-n",
    "--limit",
    type=Number(1, 1_000_000, integer=True),
    default=20,
    show_default=True,
    help="How many runs to list.",
)
@db_option
@format_option("table", "json")
def history(limit: int, db: str | None, fmt: str) -> None:
    """List past runs, newest first."""
    from tokbench.render.terminal import history_table

    store = open_store(db)
    runs = store.runs(limit)
    counts = store.request_counts()
    orphaned = store.orphaned(runs)
    if fmt == "json":
        print_json(
            [
                {
                    **r.to_json(),
                    "ok": counts.get(r.id, (0, 0))[0],
                    "failed": counts.get(r.id, (0, 0))[1],
                    **({"process_gone": True} if r.id in orphaned else {}),
                }
                for r in runs
            ]
        )
    elif not runs:
        click.echo(f"No runs yet in {store.location}. Start one with: tokbench run", err=True)
    else:
        stdout_console().print(history_table(runs, counts, orphaned))


@click.command()
@click.argument("run_id")
@click.option("--answers", is_flag=True, help="Also print every answer (and thinking).")
@db_option
@format_option("table", "md", "json")
def show(run_id: str, answers: bool, db: str | None, fmt: str) -> None:
    """Show one run again: RUN_ID or a unique prefix of it."""
    from tokbench.core.records import BENCH_KINDS
    from tokbench.render.folder import run_document
    from tokbench.render.terminal import run_view

    store = open_store(db)
    run = store.run(run_id)
    if fmt != "json" and store.orphaned([run]):  # shown so; JSON keeps the stored status
        run = replace(run, status="interrupted?")
    if run.kind == "quant":
        _show_quant(store, run, fmt)
        return
    if run.kind in BENCH_KINDS:
        from tokbench.render import bench as render
        from tokbench.results.views import bench_summary

        summary = bench_summary(store, run)
        tuned = getattr(run.config, "tune", None)
        if fmt == "json":
            print_json(render.to_json(run, summary))  # the tune report is in run.config
        elif fmt == "md":
            print_text(render.markdown(run, summary))
        else:
            stdout_console().print(render.table_view(run, summary))
        if tuned and tuned.get("report") and fmt != "json":
            from tokbench.render.tune import tune_markdown, tune_view

            if fmt == "md":
                print_text("\n" + tune_markdown(tuned))
            else:
                stdout_console().print(tune_view(tuned))
        return
    recs = store.requests(run.id)
    if run.kind == "converse":
        _show_conversation(store, run, recs, fmt)
        return
    from tokbench.evals.summary import summarize_run  # an eval run: its accuracy table too

    evals = summarize_run(run, recs)
    if fmt == "json":
        from tokbench.render.evals import eval_json

        extra = {"eval": eval_json(run, evals)} if evals else {}
        print_json({**run_document(run, recs), **extra})
        return
    if fmt == "md":
        from tokbench.render.evals import eval_markdown
        from tokbench.render.markdown import run_markdown

        tail = eval_markdown(run, evals) if evals else ""
        print_text(run_markdown(run, recs) + tail)
        return
    console = stdout_console()
    console.print(run_view(run, recs))
    if evals:
        from tokbench.render.evals import eval_table

        console.print(eval_table(run, evals))
    if answers:
        from tokbench.render.terminal import answers_view

        console.print(answers_view(recs))


def _show_quant(store: Any, run: Any, fmt: str) -> None:
    from tokbench.quant.compare import load_quant
    from tokbench.render import quant as render

    view = load_quant(store, run)
    if fmt == "json":
        print_json(render.to_json(view))
    elif fmt == "md":
        print_text(render.markdown([view]))
    else:
        stdout_console().print(render.table([view]))


@click.command()
@db_option
def path(db: str | None) -> None:
    """Print where tokbench keeps results and models."""
    from tokbench.core.redact import redact_url
    from tokbench.paths import cache_dir, data_dir, default_db, runs_dir

    click.echo(f"database: {redact_url(db or default_db())}")
    click.echo(f"run folders: {runs_dir()}")
    click.echo(f"data dir: {data_dir()}")
    click.echo(f"model cache: {cache_dir()}")


def _show_conversation(store: Any, run: Any, recs: list[Any], fmt: str) -> None:
    """A conversation run: its per-turn table and cache; with --json every turn too."""
    from tokbench.conversations.turns import conversation_report
    from tokbench.render.conversation import conversation_json, conversation_view
    from tokbench.render.folder import run_document

    report = conversation_report(store, run.id)
    if fmt == "json":
        print_json({**run_document(run, recs), **conversation_json(run, report)})
        return
    console = stdout_console()
    for part in conversation_view(run, report):
        console.print(part)
