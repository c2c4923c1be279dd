"""`tokbench report`, `tokbench compare` and `tokbench export`."""

from __future__ import annotations

from pathlib import Path

import click

from tokbench.cli.options import db_option, open_store, print_json, stdout_console

last_option = click.option(
    "--last", type=click.IntRange(1), help="The last N runs (default without RUN_IDs: the last 10)."
)


@click.command()
@click.argument("run_ids", nargs=-1)
@last_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
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
    run_ids: tuple[str, ...], last: int | None, output: Path, charts: Path | None, db: Path | None
) -> None:
    """One self-contained HTML report (tables, charts, answers) that works offline."""
    from tokbench.render.html import decode_chart, report_html, size_chart
    from tokbench.report import views

    vs = views(open_store(db), run_ids, last)
    output.write_text(report_html(vs), "utf-8")
    click.echo(f"wrote {output} ({len(vs)} runs)", err=True)
    if charts:
        from tokbench.charts_files import write_charts

        for path in write_charts(charts, {"decode": decode_chart(vs), "size": size_chart(vs)}):
            click.echo(f"wrote {path}", err=True)


@click.command()
@click.argument("run_ids", nargs=-1)
@last_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "md", "csv", "json"]),
    default="table",
    show_default=True,
)
@db_option
def compare(run_ids: tuple[str, ...], last: int | None, fmt: str, db: Path | None) -> None:
    """Compare runs side by side, grouped by model, host and backend; differences and
    ratios are against the first run given (the baseline)."""
    from tokbench.render import compare as render
    from tokbench.report import compare as compare_runs
    from tokbench.report import views

    rows = compare_runs(views(open_store(db), run_ids, last))
    if fmt == "md":
        click.echo(render.markdown(rows), nl=False)
    elif fmt == "csv":
        click.echo(render.to_csv(rows), nl=False)
    elif fmt == "json":
        print_json(render.records(rows))
    else:
        stdout_console().print(render.table(rows))


@click.command()
@click.argument("run_ids", nargs=-1)
@click.option("--last", type=click.IntRange(1), help="Only the last N runs (default: all).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@click.option("--bench", is_flag=True, help="Export bench samples instead of requests.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
@db_option
def export(
    run_ids: tuple[str, ...],
    last: int | None,
    fmt: str,
    bench: bool,
    output: Path | None,
    db: Path | None,
) -> None:
    """Every request with its metrics and run metadata (CSV or JSON lines), for pandas,
    DuckDB or a spreadsheet."""
    import csv
    import json
    import sys

    from tokbench import export as ex

    store = open_store(db)
    runs = [store.run(r) for r in run_ids] if run_ids else store.runs(last)
    rows = ex.bench_rows(store, runs) if bench else ex.request_rows(store, runs)
    columns = ex.BENCH_COLUMNS if bench else ex.REQUEST_COLUMNS
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        if fmt == "csv":
            w = csv.DictWriter(out, fieldnames=list(columns))
            w.writeheader()
            w.writerows(rows)
        else:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if output:
            out.close()
