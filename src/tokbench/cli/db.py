"""`tokbench db`: the results store's schema, and moving history between stores."""

from __future__ import annotations

import click

from tokbench.cli.options import db_option, stderr_console


@click.group()
def db() -> None:
    """The results store: SQLite (one machine) or PostgreSQL (shared by a fleet)."""


@db.command()
@db_option
def migrate(db: str | None) -> None:
    """Bring a store's schema up to date (tokbench also does this whenever it opens one)."""
    from tokbench.cli.options import open_store

    store = open_store(db)
    click.echo(
        f"{store.location}: schema {store.schema_version()[-1]} "
        f"({len(store.schema_version())} migrations applied)"
    )


@db.command()
@click.option(
    "--from",
    "src",
    required=True,
    metavar="PATH|URL",
    help="Store to read: a SQLite path, sqlite:///path or postgresql://...",
)
@click.option("--to", "dst", required=True, metavar="PATH|URL", help="Store to add the runs to.")
def copy(src: str, dst: str) -> None:
    """Copy every run (requests, bench samples, host and config) the destination lacks,
    e.g. local history into the fleet's PostgreSQL store. Runs already there are left
    alone, so running it again resumes an interrupted copy."""
    from tokbench.store.connection import is_postgres_url, sqlite_path
    from tokbench.store.copy import copy_runs
    from tokbench.store.database import Store

    if not is_postgres_url(src):
        path = sqlite_path(src)
        if not path.is_file():  # opening it would create an empty store and copy nothing
            raise click.BadParameter(f"{path} does not exist", param_hint="--from")
    a, b = Store(src), Store(dst)
    err = stderr_console()
    with err.status("copying...") as status:
        result = copy_runs(a, b, lambda i, n: status.update(f"copying run {i} of {n}"))
    click.echo(
        f"copied {result.runs_copied} runs ({result.requests} requests, "
        f"{result.bench_samples} bench samples) from {a.location} to {b.location}; "
        f"{result.runs_present} were already there"
    )
