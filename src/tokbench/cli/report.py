"""`tokbench report`, `tokbench compare` and `tokbench export`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tokbench.cli.checks import output_path
from tokbench.cli.options import (
    db_option,
    emit,
    format_option,
    open_store,
)
from tokbench.render.outputs import Outputs

last_option = click.option(
    "--last",
    type=click.IntRange(1, 1_000_000),
    help="The last N runs (default without RUN_IDs: the last 10).",
)


@click.command()
@click.argument("run_ids", nargs=-1)
@last_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_path,
    default=Path("report.html"),
    show_default=True,
    help="The HTML file to write.",
)
@click.option(
    "--charts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the charts here as SVG and PNG files.",
)
@db_option
def report(
    run_ids: tuple[str, ...], last: int | None, output: Path, charts: Path | None, db: str | None
) -> None:
    """One self-contained HTML report (tables, charts, answers) that works offline."""
    from tokbench.paths import atomic_output
    from tokbench.render.html import accuracy_chart, decode_chart, report_html, size_chart
    from tokbench.render.safe import shown
    from tokbench.results.views import views

    store = open_store(db)
    # a run named twice (or by its id and a prefix) is reported once, where first named
    vs = list({v.run.id: v for v in views(store, run_ids, last)}.values())
    quant = _quant_views(store, [v.run for v in vs])
    with atomic_output(output) as out:
        out.write(shown(report_html(vs, quant)))
    click.echo(f"wrote {output} ({len(vs)} runs)", err=True)
    if charts:
        from tokbench.render.chart_files import write_charts

        svgs = {"decode": decode_chart(vs), "size": size_chart(vs)}
        if accuracy := accuracy_chart(vs):
            svgs["accuracy"] = accuracy
        if quant:
            from tokbench.render.quant import quant_chart

            svgs.update({f"quant-{q.run.id}": quant_chart(q) for q in quant if q.run})
        for path in write_charts(charts, svgs):
            click.echo(f"wrote {path}", err=True)


@dataclass(frozen=True)
class _Compared:
    """What `compare` prints: the comparison rows, the tests between runs, and the quant
    comparisons among the runs (if any)."""

    rows: Any
    tests: Any
    quant: list[Any]


QUANTS: Outputs[list[Any]] = Outputs()  # quant comparisons side by side


@QUANTS.add("table", "console")
def _quant_table(quant: list[Any]) -> list[Any]:
    from tokbench.render.quant import table

    return [table(quant)]


@QUANTS.add("md", "text")
def _quant_markdown(quant: list[Any]) -> str:
    from tokbench.render.quant import markdown

    return "\n" + markdown(quant)


@QUANTS.add("csv", "text")
def _quant_csv(quant: list[Any]) -> str:
    from tokbench.render.quant import to_csv

    return to_csv(quant)


@QUANTS.add("json", "json")
def _quant_json(quant: list[Any]) -> Any:
    from tokbench.render.quant import to_json

    return [to_json(q) for q in quant]


COMPARE: Outputs[_Compared] = Outputs()


@COMPARE.add("table", "console")
def _compare_table(v: _Compared) -> list[Any]:
    from tokbench.render import compare as render

    out = [render.table(v.rows)] + ([render.tests_table(v.tests)] if v.tests else [])
    return out + (_quant_table(v.quant) if v.quant else [])


@COMPARE.add("md", "text")
def _compare_markdown(v: _Compared) -> str:
    from tokbench.render import compare as render

    text = render.markdown(v.rows) + render.tests_markdown(v.tests)
    return text + (_quant_markdown(v.quant) if v.quant else "")


@COMPARE.add("csv", "text")
def _compare_csv(v: _Compared) -> str:
    from tokbench.render import compare as render

    return render.to_csv(v.rows)


@COMPARE.add("json", "json")
def _compare_json(v: _Compared) -> Any:
    from tokbench.render import compare as render

    records = render.records(v.rows)
    by_run = render.test_records(v.tests)
    for rec in records:
        rec["tests"] = [t for t in by_run if t["run_id"] == rec["run_id"]]
    return records


@dataclass(frozen=True)
class _Paired:
    """`compare --ref`: a candidate run against a reference run, answer by answer."""

    candidate: Any
    reference: Any
    result: Any


PAIRED: Outputs[_Paired] = Outputs()


# the paired comparison is one document in every human format (the innermost registers first)
@PAIRED.add("csv", "text")
@PAIRED.add("md", "text")
@PAIRED.add("table", "text")
def _paired_markdown(v: _Paired) -> str:
    from tokbench.render.quality import paired_markdown

    return paired_markdown(v.candidate, v.reference, v.result)


@PAIRED.add("json", "json")
def _paired_json(v: _Paired) -> Any:
    from tokbench.render.quality import paired_record

    return paired_record(v.candidate, v.reference, v.result)


CONVERSATIONS: Outputs[Any] = Outputs()  # [(run, ConversationReport)]


@CONVERSATIONS.add("table", "console")
def _conversations_table(v: Any) -> list[Any]:
    from tokbench.render.conversation import compare_view

    return compare_view(v)


@CONVERSATIONS.add("md", "text")
def _conversations_markdown(v: Any) -> str:
    from tokbench.render.conversation import compare_markdown

    return compare_markdown(v)


@CONVERSATIONS.add("csv", "text")
def _conversations_csv(v: Any) -> str:
    from tokbench.render.conversation import compare_csv

    return compare_csv(v)


@CONVERSATIONS.add("json", "json")
def _conversations_json(v: Any) -> Any:
    from tokbench.render.conversation import compare_json

    return compare_json(v)


@click.command()
@click.argument("run_ids", nargs=-1)
@last_option
@format_option(*COMPARE.names)
@click.option(
    "--ref",
    metavar="RUN_ID",
    help="Quality: compare the one RUN_ID given (the candidate) with this reference run, "
    "answer by answer (pass-rate difference, exact McNemar test, flipped items).",
)
@db_option
def compare(
    run_ids: tuple[str, ...], last: int | None, fmt: str, ref: str | None, db: str | None
) -> None:
    """Compare runs side by side, grouped by model, host and backend; differences and
    ratios are against the first run given (the baseline). With --ref: a paired quality
    comparison of a candidate run against a reference run."""
    from tokbench.results.views import compare as compare_runs
    from tokbench.results.views import compare_tests, views

    store = open_store(db)
    if ref:
        _paired(store, run_ids, ref, fmt)
        return
    vs = views(store, run_ids, last)
    if vs and all(v.run.kind == "converse" for v in vs):  # conversation runs: turn by turn
        from tokbench.conversations.turns import conversation_report

        emit(CONVERSATIONS, fmt, [(v.run, conversation_report(store, v.run.id)) for v in vs])
        return
    quant = _quant_views(store, [v.run for v in vs])
    if quant and len(quant) == len(vs):  # quant comparisons only: their rows side by side
        emit(QUANTS, fmt, quant)
        return
    # beside other runs, quant comparisons add their own table to the table and Markdown
    emit(COMPARE, fmt, _Compared(compare_runs(vs), compare_tests(vs), quant))


def _quant_views(store: Any, runs: list[Any]) -> list[Any]:
    if not any(r.kind == "quant" for r in runs):
        return []
    from tokbench.quant.compare import load_quants

    return load_quants(store, runs)


def _paired(store: object, run_ids: tuple[str, ...], ref: str, fmt: str) -> None:
    from tokbench.errors import TokbenchError
    from tokbench.results.quality import paired
    from tokbench.store.database import Store

    assert isinstance(store, Store)
    if len(run_ids) != 1:
        raise TokbenchError("with --ref give exactly one candidate RUN_ID")
    cand, reference = store.run(run_ids[0]), store.run(ref)
    try:
        result = paired(store.requests(cand.id), store.requests(reference.id))
    except ValueError as exc:
        raise TokbenchError(
            f"cannot pair {cand.id} with {reference.id}: {exc} (run the same graded suite)"
        ) from exc
    emit(PAIRED, fmt, _Paired(cand, reference, result))


@dataclass(frozen=True)
class _Answers:
    """One item's answers: (run, its records of the item) per run."""

    item_id: str
    rows: list[tuple[Any, list[Any]]]


ANSWERS: Outputs[_Answers] = Outputs()


@ANSWERS.add("table", "console")
def _answers_table(v: _Answers) -> list[Any]:
    from tokbench.render.quality import answers_table

    return [answers_table(v.item_id, v.rows)]


@ANSWERS.add("md", "text")
def _answers_markdown(v: _Answers) -> str:
    from tokbench.render.quality import answers_markdown

    return answers_markdown(v.item_id, v.rows)


@ANSWERS.add("json", "json")
def _answers_json(v: _Answers) -> Any:
    from tokbench.render.quality import answers_records

    return answers_records(v.item_id, v.rows)


@click.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--item", "item_id", required=True, help="The item to show, e.g. autumn-quatrain.")
@format_option(*ANSWERS.names)
@db_option
def answers(run_ids: tuple[str, ...], item_id: str, fmt: str, db: str | None) -> None:
    """The same item's answers from several runs, side by side, with their grades (like
    the seed article's appendix)."""
    from tokbench.errors import TokbenchError

    store = open_store(db)
    runs = [store.run(r) for r in run_ids]
    rows = [(run, [r for r in store.requests(run.id) if r.item_id == item_id]) for run in runs]
    if not any(recs for _run, recs in rows):
        raise TokbenchError(f"no answers to item {item_id!r} in these runs")
    emit(ANSWERS, fmt, _Answers(item_id, rows))


def _csv_rows(out: Any, columns: tuple[str, ...], rows: Iterable[Any]) -> None:
    """CSV with every cell made inert (`render.safe.csv_cell`)."""
    from tokbench.render.safe import write_csv

    write_csv(out, columns, rows)


def _json_lines(out: Any, columns: tuple[str, ...], rows: Iterable[Any]) -> None:
    """Exact JSON, one row a line."""
    from tokbench.render.safe import json_text

    for row in rows:
        out.write(json_text(row, indent=None) + "\n")


# export streams its rows into a file or stdout, so its formats are writers, by name
ROW_WRITERS: dict[str, Callable[[Any, tuple[str, ...], Iterable[Any]], None]] = {
    "csv": _csv_rows,
    "jsonl": _json_lines,
}


@click.command()
@click.argument("run_ids", nargs=-1)
@click.option(
    "--last", type=click.IntRange(1, 1_000_000), help="Only the last N runs (default: all)."
)
@format_option(*ROW_WRITERS, default="csv", json_format="jsonl")
@click.option("--bench", is_flag=True, help="Export bench samples instead of requests.")
@click.option(
    "--quant", is_flag=True, help="Export quant comparisons' rows (one per candidate model)."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_path,
    help="Write here instead of stdout.",
)
@db_option
def export(
    run_ids: tuple[str, ...],
    last: int | None,
    fmt: str,
    bench: bool,
    quant: bool,
    output: Path | None,
    db: str | None,
) -> None:
    """Every request with its metrics and run metadata (CSV or JSON lines), for pandas,
    DuckDB or a spreadsheet."""
    import sys

    from tokbench.store import export as ex

    store = open_store(db)
    if run_ids:  # a run named twice is exported once
        runs = list({r.id: r for r in map(store.run, run_ids)}.values())
    else:
        runs = store.runs(last)
    columns: tuple[str, ...]
    if quant:
        rows, columns = ex.quant_rows(store, runs), ex.QUANT_COLUMNS
    else:
        rows = ex.bench_rows(store, runs) if bench else ex.request_rows(store, runs)
        columns = ex.columns(runs, bench)
        if not bench and any(r.kind == "converse" for r in runs):
            from tokbench.conversations.turns import TURN_COLUMNS, with_turn_fields

            rows, columns = with_turn_fields(store, runs, rows), (*columns, *TURN_COLUMNS)
    if output is None:
        ROW_WRITERS[fmt](sys.stdout, columns, rows)
        return
    from tokbench.paths import atomic_output

    with atomic_output(output, newline="") as out:
        ROW_WRITERS[fmt](out, columns, rows)
