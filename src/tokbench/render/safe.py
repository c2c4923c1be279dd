"""Foreign text (model output, server names, file contents) made inert for the terminal:
rich markup escaped and control characters (ANSI escapes) shown, never obeyed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.segment import Segment

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: object) -> str:
    """`text` for a rich console: markup escaped, control characters as `\\xNN`."""
    cleaned = _CONTROL.sub(_shown, str(text))
    return escape(cleaned)


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


class SafeConsole(Console):
    """A console that shows control characters in anything it prints (`\\x1b[2J` stays
    text), whatever renderable carried them; its own styling is applied after this."""

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        for seg in super().render(renderable, options):
            if not seg.control and _CONTROL.search(seg.text):
                seg = Segment(_CONTROL.sub(_shown, seg.text), seg.style, seg.control)
            yield seg
