"""Foreign text (model output, server names, file contents) made inert for the terminal:
rich markup escaped and control characters (ANSI escapes) shown, never obeyed."""

from __future__ import annotations

import re

from rich.markup import escape

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: object) -> str:
    """`text` for a rich console: markup escaped, control characters as `\\xNN`."""
    cleaned = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return escape(cleaned)
