"""The small protocol every backend implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from tokbench.events import ChatRequest, Trace

OnToken = Callable[[], None]


class Backend(Protocol):
    kind: str  # "embedded", "openai", ...
    model: str

    def describe(self) -> dict[str, Any]:
        """What was measured (model file, server, version...), for the run record."""
        ...

    def stream(self, request: ChatRequest, on_token: OnToken | None = None) -> Trace:
        """Run one request. A failed request returns a Trace with `error` set; it never raises
        for the request's own failure (KeyboardInterrupt still propagates)."""
        ...

    def close(self) -> None: ...
