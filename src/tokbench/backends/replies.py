"""Typed reads of a server's JSON, each protocol's one boundary: a value of the wrong shape
raises `WireError` naming the field, and that request fails with that reason while the
run goes on. Counts must be whole numbers in 0..2^53 (JSON's exact integers)."""

from __future__ import annotations

import json
import math
from typing import Any

from tokbench.errors import TokbenchError

MAX_COUNT = 2**53


class WireError(TokbenchError):
    """A server message of the wrong shape."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{where} is {_kind(value)}, expected an object")
    return value


def opt_obj(value: Any, where: str) -> dict[str, Any] | None:
    return None if value is None else obj(value, where)


def items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise WireError(f"{where} is {_kind(value)}, expected a list")
    return value


def opt_text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise WireError(f"{where} is {_kind(value)}, expected text")


def opt_count(value: Any, where: str) -> int | None:
    """A token count: an integer (or an integral float) in 0..2^53, or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(f"{where} is {_kind(value)}, expected a whole number")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise WireError(f"{where} is {value!r}, expected a whole number")
    if not 0 <= value <= MAX_COUNT:
        raise WireError(f"{where} is {value:g}, outside 0..2^53")
    return int(value)


def opt_number(value: Any, where: str) -> float | None:
    """A non-negative finite number (a duration, a rate), or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(f"{where} is {_kind(value)}, expected a number")
    if not math.isfinite(value) or value < 0:
        raise WireError(f"{where} is {value!r}, expected a finite number >= 0")
    return float(value)


def scalar(value: Any) -> str | int | float | bool | None:
    """A descriptive field (a version, a quantization name): kept when it is a plain value,
    dropped (None) when the server sent a list or an object there."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, str | int | float | bool) else None


def field(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...` through objects only; None where the path breaks."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


# Probes and discovery read tolerantly: a value of the wrong shape there means "not this
# kind of server" or "nothing to list", never an exception.
def loads(body: bytes) -> Any:
    """The JSON of a body; None when it is not JSON (or nested past the parser's depth)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def names(value: Any, key: str) -> list[str]:
    """The non-empty text `key` of each object in the list `value` ([] when no list)."""
    if not isinstance(value, list):
        return []
    return [n for m in value if isinstance(n := field(m, key), str) and n]


def whole(value: Any) -> int | None:
    """A descriptive count (parameters, bytes, context length): a whole number, else None."""
    v = scalar(value)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return int(v) if float(v).is_integer() else None


def label(value: Any) -> str | None:
    """A version or a name for display: a plain value as text, else None."""
    v = scalar(value)
    return None if v is None or isinstance(v, bool) or v == "" else str(v)
