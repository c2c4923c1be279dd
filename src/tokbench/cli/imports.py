"""`tokbench import`: other tools' result files into the store."""

from __future__ import annotations

from pathlib import Path

import click

from tokbench.cli.options import db_option, open_store, print_json, stderr_console

FORMAT_NAMES = (
    "llama-bench-json",
    "llama-bench-jsonl",
    "llama-bench-csv",
    "llama-bench-sql",
    "llama-bench-md",
    "vllm-bench-serve",
    "guidellm-json",
    "guidellm-yaml",
)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_NAMES),
    help="The files' format (default: detected from each file's content).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
@db_option
def import_(files: tuple[Path, ...], fmt: str | None, as_json: bool, db: str | None) -> None:
    """Import other tools' results: llama-bench output (-o json, jsonl, csv, sql or md),
    `vllm bench serve --save-result` JSON and GuideLLM benchmark reports. Each file
    becomes a run (history, show, compare, report, export); importing a file again does
    nothing."""
    from tokbench.interop.importer import Imported, import_files
    from tokbench.render.safe import plain

    err = stderr_console()

    def told(item: Imported) -> None:
        where = f"run {item.run_id}" if item.run_id else "already imported"
        err.print(f"{plain(item.path.name)}: {plain(item.tool)}, {item.tests} tests: {where}")
        for note in item.notes:
            err.print(f"  [dim]{plain(note)}[/dim]")

    done = import_files(list(files), open_store(db), fmt=fmt, on_file=told)
    if as_json:
        print_json(
            [
                {"file": str(d.path), "run_id": d.run_id, "tool": d.tool, "tests": d.tests}
                for d in done
            ]
        )
