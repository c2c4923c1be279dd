"""`tokbench report`, `tokbench compare` and `tokbench export`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from tokbench.cli.checks import output_path
from tokbench.cli.options import (
    db_option,
    format_option,
    open_store,
    print_json,
    print_text,
    stdout_console,
)

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


@click.command()
@click.argument("run_ids", nargs=-1)
@last_option
@format_option("table", "md", "csv", "json")
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
    from tokbench.render import compare as render
    from tokbench.results.views import compare as compare_runs
    from tokbench.results.views import compare_tests, views

    store = open_store(db)
    if ref:
        _paired(store, run_ids, ref, fmt)
        return
    vs = views(store, run_ids, last)
    quant = _quant_views(store, [v.run for v in vs])
    if quant and len(quant) == len(vs):  # quant comparisons only: their rows side by side
        _print_quant(quant, fmt)
        return
    rows, tests = compare_runs(vs), compare_tests(vs)
    if fmt == "md":
        print_text(render.markdown(rows) + render.tests_markdown(tests))
    elif fmt == "csv":
        print_text(render.to_csv(rows))
    elif fmt == "json":
        records = render.records(rows)
        by_run = render.test_records(tests)
        for rec in records:
            rec["tests"] = [t for t in by_run if t["run_id"] == rec["run_id"]]
        print_json(records)
    else:
        console = stdout_console()
        console.print(render.table(rows))
        if tests:
            console.print(render.tests_table(tests))
    if quant and fmt in ("table", "md"):
        _print_quant(quant, fmt)


def _quant_views(store: Any, runs: list[Any]) -> list[Any]:
    if not any(r.kind == "quant" for r in runs):
        return []
    from tokbench.quant.compare import load_quants

    return load_quants(store, runs)


def _print_quant(quant: list[Any], fmt: str) -> None:
    from tokbench.render import quant as qr

    if fmt == "md":
        print_text("\n" + qr.markdown(quant))
    elif fmt == "csv":
        print_text(qr.to_csv(quant))
    elif fmt == "json":
        print_json([qr.to_json(q) for q in quant])
    else:
        stdout_console().print(qr.table(quant))


def _paired(store: object, run_ids: tuple[str, ...], ref: str, fmt: str) -> None:
    from tokbench.errors import TokbenchError
    from tokbench.render.quality import paired_markdown, paired_record
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
    if fmt == "json":
        print_json(paired_record(cand, reference, result))
    else:
        print_text(paired_markdown(cand, reference, result))


@click.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--item", "item_id", required=True, help="The item to show, e.g. autumn-quatrain.")
@format_option("table", "md", "json")
@db_option
def answers(run_ids: tuple[str, ...], item_id: str, fmt: str, db: str | None) -> None:
    """The same item's answers from several runs, side by side, with their grades (like
    the seed article's appendix)."""
    from tokbench.errors import TokbenchError
    from tokbench.render.quality import answers_markdown, answers_records, answers_table

    store = open_store(db)
    runs = [store.run(r) for r in run_ids]
    rows = [(run, [r for r in store.requests(run.id) if r.item_id == item_id]) for run in runs]
    if not any(recs for _run, recs in rows):
        raise TokbenchError(f"no answers to item {item_id!r} in these runs")
    if fmt == "md":
        print_text(answers_markdown(item_id, rows))
    elif fmt == "json":
        print_json(answers_records(item_id, rows))
    else:
        stdout_console().print(answers_table(item_id, rows))


@click.command()
@click.argument("run_ids", nargs=-1)
@click.option(
    "--last", type=click.IntRange(1, 1_000_000), help="Only the last N runs (default: all)."
)
@format_option("csv", "jsonl", default="csv", json_format="jsonl")
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
    if output is None:
        _write_rows(sys.stdout, fmt, columns, rows)
        return
    from tokbench.paths import atomic_output

    with atomic_output(output, newline="") as out:
        _write_rows(out, fmt, columns, rows)


def _write_rows(out: Any, fmt: str, columns: tuple[str, ...], rows: Iterable[Any]) -> None:
    """CSV with every cell made inert (`render.safe.csv_cell`), or exact JSON lines."""
    from tokbench.render.safe import json_text, write_csv

    if fmt == "csv":
        write_csv(out, columns, rows)
    else:
        for row in rows:
            out.write(json_text(row, indent=None) + "\n")
