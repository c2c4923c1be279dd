"""`tokbench fleet run`: one command on many hosts, into one shared store."""

from __future__ import annotations

import click

from tokbench.cli.options import db_option, stderr_console


@click.group()
def fleet() -> None:
    """Run tokbench on several machines of a Ray cluster into one shared store."""


@fleet.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--hosts",
    required=True,
    help="Hosts, comma-separated: Ray node names (`ray start --node-name`), hostnames or IPs.",
)
@click.option(
    "--ray",
    "address",
    metavar="ADDRESS",
    help="The Ray cluster's head, e.g. 10.0.0.5:6379 (default: RAY_ADDRESS, else local).",
)
@db_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(hosts: str, address: str | None, db: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND (a tokbench command and its options, after --) on every host at once,
    each against its own local server, e.g.

    \b
    tokbench fleet run --hosts gpu1,gpu2 --db postgresql://tb@db/tokbench \\
        -- bench --url http://127.0.0.1:8080/v1 -p 512 -n 128

    Every result lands in the shared store (--db; PostgreSQL, which every host must
    reach), tagged with its host; `tokbench compare` then shows the fleet side by side."""
    from tokbench.paths import default_db
    from tokbench.runs.fleet import FleetResult, fleet_run
    from tokbench.store.connection import is_postgres_url

    names = [h.strip() for h in hosts.split(",") if h.strip()]
    argv = list(command) or ["run"]
    if argv[0] not in ("run", "bench"):
        raise click.UsageError(f"fleet runs `run` or `bench`, not {argv[0]!r}")
    store = db or default_db()
    err = stderr_console()
    if not is_postgres_url(store):
        err.print(
            "[yellow]the store is a local SQLite file: only hosts that share this "
            "filesystem can write to it; give --db postgresql://... for a fleet[/yellow]"
        )

    def done(r: FleetResult) -> None:
        state = "ok" if r.returncode == 0 else f"failed ({r.returncode})"
        err.print(f"{r.host}: {state} {' '.join(r.run_ids)}", markup=False, highlight=False)
        if r.error:
            err.print(r.error.splitlines()[-1], style="dim", markup=False, highlight=False)

    err.print(f"[dim]running `tokbench {' '.join(argv)}` on {len(names)} hosts...[/dim]")
    results = fleet_run(names, argv, store, address, done)
    ids = [i for r in results for i in r.run_ids]
    for r in results:
        click.echo(f"{r.host}\t{'ok' if r.returncode == 0 else 'failed'}\t{' '.join(r.run_ids)}")
    if ids:
        err.print(f"side by side: tokbench compare {' '.join(ids)}", highlight=False)
    if any(r.returncode != 0 for r in results):
        raise SystemExit(1)
