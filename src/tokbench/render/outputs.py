"""Output formats by name, as GuideLLM's `outputs/` does: each command keeps one
`Outputs` registry of what its view can be printed as; `--format` lists the registry's
names, and the command prints with `cli.options.emit`. A new format is one registration.

An `Output` says where its result goes (`sink`), so every format still passes through
the one escaping point for that kind of output:
- "text": a document (Markdown, CSV, llama-bench's shapes), printed with its control
  characters shown visibly;
- "json": a JSON value, printed exactly and with no raw control character;
- "console": a list of rich renderables, printed one after another on the results
  console (which shows control characters in whatever it prints)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

V = TypeVar("V")
Sink = Literal["text", "json", "console"]


@dataclass(frozen=True)
class Output(Generic[V]):
    """One format of a view: its name on the command line, where it goes, how it is made."""

    name: str
    sink: Sink
    render: Callable[[V], Any]


class Outputs(Generic[V]):
    """The formats one view can be printed in, in the order `--format` lists them."""

    def __init__(self) -> None:
        self._by_name: dict[str, Output[V]] = {}

    def add(self, name: str, sink: Sink) -> Callable[[Callable[[V], Any]], Callable[[V], Any]]:
        """Register the decorated function as format `name`."""

        def register(render: Callable[[V], Any]) -> Callable[[V], Any]:
            if name in self._by_name:
                raise ValueError(f"format {name!r} is registered twice")
            self._by_name[name] = Output(name, sink, render)
            return render

        return register

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def __getitem__(self, name: str) -> Output[V]:
        return self._by_name[name]
