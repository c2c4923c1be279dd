"""`tokbench servers`: which LLM servers are running here (or on given hosts)?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from tokbench.cli.options import emit, format_option, print_text
from tokbench.render.outputs import Outputs


@dataclass(frozen=True)
class _Found:
    """What a scan found: LLM servers (`backends.base.Detected`), and a note for each
    address that answered but is no LLM server."""

    servers: list[Any]
    notes: list[str]


SERVERS: Outputs[_Found] = Outputs()


@SERVERS.add("table", "console")
def _servers_table(found: _Found) -> list[Any]:
    from rich.table import Table

    t = Table(title="LLM servers", title_justify="left")
    for col in ("url", "kind", "version", "models"):
        t.add_column(col)
    for s in found.servers:
        models = ", ".join(s.models[:6]) + (f" (+{len(s.models) - 6})" if len(s.models) > 6 else "")
        t.add_row(s.url, s.kind, s.version or "–", models or "–")
    return [t]


@SERVERS.add("json", "json")
def _servers_json(found: _Found) -> Any:
    from dataclasses import asdict

    return {"servers": [asdict(s) for s in found.servers], "not_llm": found.notes}


@click.command()
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="HOST:PORT",
    help="Also probe this address (repeatable).",
)
@format_option(*SERVERS.names)
def servers(hosts: tuple[str, ...], fmt: str) -> None:
    """Scan the usual local ports (Ollama 11434, LM Studio 1234, llama-server 8080,
    vLLM 8000, SGLang 30000) and any --host; print kind, version and models."""
    from tokbench.backends.base import Detected
    from tokbench.backends.registry import scan

    found = scan(list(hosts))
    servers_ = [f for f in found if isinstance(f, Detected)]
    notes = [f for f in found if isinstance(f, str)]
    if SERVERS[fmt].sink == "console":  # on a terminal: the notes, or why nothing is listed
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
    emit(SERVERS, fmt, _Found(servers_, notes))
