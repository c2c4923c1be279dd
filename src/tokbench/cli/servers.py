"""`tokbench servers`: which LLM servers are running here (or on given hosts)?"""

from __future__ import annotations

import click

from tokbench.cli.options import format_option, print_json, print_text, stdout_console


@click.command()
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="HOST:PORT",
    help="Also probe this address (repeatable).",
)
@format_option("table", "json")
def servers(hosts: tuple[str, ...], fmt: str) -> None:
    """Scan the usual local ports (Ollama 11434, LM Studio 1234, llama-server 8080,
    vLLM 8000, SGLang 30000) and any --host; print kind, version and models."""
    from dataclasses import asdict

    from rich.table import Table

    from tokbench.backends.base import Detected
    from tokbench.backends.registry import scan

    found = scan(list(hosts))
    servers_ = [f for f in found if isinstance(f, Detected)]
    notes = [f for f in found if isinstance(f, str)]
    if fmt == "json":
        print_json({"servers": [asdict(s) for s in servers_], "not_llm": notes})
        return
    for note in notes:
        print_text(note, err=True, nl=True)  # it quotes what the server answered
    if not servers_:
        click.echo(
            "No LLM server found on the default ports"
            + (" or the given hosts" if hosts else "")
            + ". Start one, or pass --host HOST:PORT.",
            err=True,
        )
        return
    t = Table(title="LLM servers", title_justify="left")
    for col in ("url", "kind", "version", "models"):
        t.add_column(col)
    for s in servers_:
        models = ", ".join(s.models[:6]) + (f" (+{len(s.models) - 6})" if len(s.models) > 6 else "")
        t.add_row(s.url, s.kind, s.version or "–", models or "–")
    stdout_console().print(t)
