"""`tokbench history`, `tokbench show` and `tokbench path`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import click

from tokbench.cli.checks import Number
from tokbench.cli.options import (
    db_option,
    emit,
    format_option,
    open_store,
)
from tokbench.render.outputs import Outputs


@dataclass(frozen=True)
class _Listed:
    """What `history` prints: the runs, their (ok, failed) request counts, and the ids of
    those still marked running whose process is gone."""

    runs: list[Any]
    counts: dict[str, tuple[int, int]]
    orphaned: set[str]


HISTORY: Outputs[_Listed] = Outputs()


@HISTORY.add("table", "console")
def _history_table(v: _Listed) -> list[Any]:
    from tokbench.render.terminal import history_table

    return [history_table(v.runs, v.counts, v.orphaned)]


@HISTORY.add("json", "json")
def _history_json(v: _Listed) -> Any:
    return [
        {
            **r.to_json(),
            "ok": v.counts.get(r.id, (0, 0))[0],
            "failed": v.counts.get(r.id, (0, 0))[1],
            **({"process_gone": True} if r.id in v.orphaned else {}),
        }
        for r in v.runs
    ]


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
@format_option(*HISTORY.names)
def history(limit: int, db: str | None, fmt: str) -> None:
    """List past runs, newest first."""
    store = open_store(db)
    runs = store.runs(limit)
    if not runs and HISTORY[fmt].sink == "console":  # an empty table says less than this
        click.echo(f"No runs yet in {store.location}. Start one with: tokbench run", err=True)
        return
    emit(HISTORY, fmt, _Listed(runs, store.request_counts(), store.orphaned(runs)))


@dataclass(frozen=True)
class _Shown:
    """One run as `show` prints it. `shown` is the run as the table and Markdown show it:
    "interrupted?" where its process is gone (JSON keeps the stored status)."""

    run: Any
    shown: Any
    detail: Any  # the run's requests, its bench summary, or its quant view
    evals: Any = None  # an eval run's accuracy summary
    answers: bool = False


SHOW_RUN: Outputs[_Shown] = Outputs()
SHOW_BENCH: Outputs[_Shown] = Outputs()
SHOW_QUANT: Outputs[_Shown] = Outputs()
SHOW_CONVERSATION: Outputs[_Shown] = Outputs()  # detail: (requests, ConversationReport)


@SHOW_RUN.add("table", "console")
def _run_table(v: _Shown) -> list[Any]:
    from tokbench.render.terminal import answers_view, run_view

    out: list[Any] = [run_view(v.shown, v.detail)]
    if v.evals:
        from tokbench.render.evals import eval_table

        out.append(eval_table(v.shown, v.evals))
    return out + ([answers_view(v.detail)] if v.answers else [])


@SHOW_RUN.add("md", "text")
def _run_markdown(v: _Shown) -> str:
    from tokbench.render.evals import eval_markdown
    from tokbench.render.markdown import run_markdown

    tail = eval_markdown(v.shown, v.evals) if v.evals else ""
    return run_markdown(v.shown, v.detail) + tail


@SHOW_RUN.add("json", "json")
def _run_json(v: _Shown) -> Any:
    from tokbench.render.evals import eval_json
    from tokbench.render.run_folder import run_document

    extra = {"eval": eval_json(v.run, v.evals)} if v.evals else {}
    return {**run_document(v.run, v.detail), **extra}


def _tuned(run: Any) -> Any:
    """The tune report a bench run made by `tokbench tune` carries, if any."""
    tuned = getattr(run.config, "tune", None)
    return tuned if tuned is not None and tuned.report is not None else None


@SHOW_BENCH.add("table", "console")
def _bench_table(v: _Shown) -> list[Any]:
    from tokbench.render.bench import table_view
    from tokbench.render.tune import tune_view

    tuned = _tuned(v.shown)
    return [table_view(v.shown, v.detail)] + ([tune_view(tuned)] if tuned else [])


@SHOW_BENCH.add("md", "text")
def _bench_markdown(v: _Shown) -> str:
    from tokbench.render.bench import markdown
    from tokbench.render.tune import tune_markdown

    tuned = _tuned(v.shown)
    return markdown(v.shown, v.detail) + ("\n" + tune_markdown(tuned) if tuned else "")


@SHOW_BENCH.add("json", "json")
def _bench_json(v: _Shown) -> Any:
    from tokbench.render.bench import to_json

    return to_json(v.run, v.detail)  # the tune report is in run.config


@SHOW_QUANT.add("table", "console")
def _quant_table(v: _Shown) -> list[Any]:
    from tokbench.render.quant import table

    return [table([replace(v.detail, run=v.shown)])]


@SHOW_QUANT.add("md", "text")
def _quant_markdown(v: _Shown) -> str:
    from tokbench.render.quant import markdown

    return markdown([replace(v.detail, run=v.shown)])


@SHOW_QUANT.add("json", "json")
def _quant_json(v: _Shown) -> Any:
    from tokbench.render.quant import to_json

    return to_json(v.detail)


@SHOW_CONVERSATION.add("table", "console")
def _conversation_table(v: _Shown) -> list[Any]:
    from tokbench.render.conversation import conversation_view

    return conversation_view(v.shown, v.detail[1])


@SHOW_CONVERSATION.add("md", "text")
def _conversation_markdown(v: _Shown) -> str:
    from tokbench.render.conversation import conversation_markdown

    return conversation_markdown(v.shown, v.detail[1])


@SHOW_CONVERSATION.add("json", "json")
def _conversation_json(v: _Shown) -> Any:
    from tokbench.render.conversation import conversation_json
    from tokbench.render.run_folder import run_document

    recs, report = v.detail
    return {**run_document(v.run, recs), **conversation_json(v.run, report)}


@click.command()
@click.argument("run_id")
@click.option("--answers", is_flag=True, help="Also print every answer (and thinking).")
@db_option
@format_option(*SHOW_RUN.names)
def show(run_id: str, answers: bool, db: str | None, fmt: str) -> None:
    """Show one run again: RUN_ID or a unique prefix of it."""
    from tokbench.core.records import BENCH_KINDS

    store = open_store(db)
    run = store.run(run_id)
    shown = replace(run, status="interrupted?") if store.orphaned([run]) else run
    if run.kind == "quant":
        from tokbench.quant.compare import load_quant

        emit(SHOW_QUANT, fmt, _Shown(run, shown, load_quant(store, run)))
    elif run.kind in BENCH_KINDS:
        from tokbench.results.views import bench_summary

        emit(SHOW_BENCH, fmt, _Shown(run, shown, bench_summary(store, run)))
    elif run.kind == "converse":
        from tokbench.conversations.turns import conversation_report

        recs = store.requests(run.id)
        emit(SHOW_CONVERSATION, fmt, _Shown(run, shown, (recs, conversation_report(store, run.id))))
    else:
        from tokbench.evals.summary import summarize_run  # an eval run: its accuracy too

        recs = store.requests(run.id)
        emit(SHOW_RUN, fmt, _Shown(run, shown, recs, summarize_run(run, recs), answers))


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
