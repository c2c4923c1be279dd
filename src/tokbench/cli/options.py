"""Options shared by several commands."""

from __future__ import annotations

from typing import Any

import click

db_option = click.option(
    "--db",
    envvar="TOKBENCH_DB",
    metavar="PATH|URL",
    help="Results database: a SQLite file (default: in the user data dir) or a shared "
    "postgresql://user@host/dbname. Env TOKBENCH_DB.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


def open_store(db: str | None) -> Any:
    from tokbench.paths import default_db
    from tokbench.store import Store

    return Store(db or default_db())


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
