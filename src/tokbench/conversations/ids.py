"""A conversation run's request ids: `c003.t01` is conversation 3, turn 1 (0-based)."""

from __future__ import annotations

import re

_ITEM = re.compile(r"c(\d+)\.t(\d+)")


def item_id(conversation: int, turn: int) -> str:
    return f"c{conversation:03d}.t{turn:02d}"


def parse_item_id(item: str) -> tuple[int, int] | None:
    m = _ITEM.fullmatch(item)
    return (int(m.group(1)), int(m.group(2))) if m else None
