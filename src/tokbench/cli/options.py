"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TOKBENCH_DB",
    help="Results database (SQLite file). Default: the user data dir; env TOKBENCH_DB.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


def open_store(db: Path | None) -> Any:
    from tokbench.paths import default_db_path
    from tokbench.store import Store

    return Store(db or default_db_path())


def stdout_console() -> Any:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        # piped or redirected: don't squeeze tables into 80 columns
        console = Console(width=200)
    return console


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def print_json(obj: Any) -> None:
    import json

    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))
