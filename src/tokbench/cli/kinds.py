"""`--backend`: the server kinds of `backends.registry`, read only when needed."""

from __future__ import annotations

from typing import Any

import click


class _ServerKind(click.ParamType[str]):
    """A server kind from `backends.registry` (or "auto"), read from the registry only when
    an option is parsed or help is shown, so `tokbench --help` stays instant."""

    name = "kind"

    def _names(self) -> list[str]:
        from tokbench.backends.registry import SERVER_KINDS

        return ["auto", *SERVER_KINDS]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self._names()) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self._names():
            return value
        self.fail(f"{value!r} is not one of {', '.join(self._names())}", param, ctx)


backend_option = click.option(
    "--backend",
    type=_ServerKind(),
    default="auto",
    show_default=True,
    help="Server protocol; auto probes the server and uses the richest it speaks.",
)
