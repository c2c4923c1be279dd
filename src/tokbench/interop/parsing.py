"""Helpers shared by the parsers: bounded JSON loading, hashing and tolerant number reading."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from tokbench.errors import TokbenchError

# Big enough for a GuideLLM report that keeps its sampled requests, small enough to read at once.
MAX_BYTES = 256 * 1024 * 1024
# Real reports nest about ten levels; anything far deeper is not one of them.
MAX_DEPTH = 64
# A llama-bench sweep of every thread count, batch size and flag of a big box has a few
# thousand rows; far more is not a benchmark someone ran, and would make every view of the
# run slow. Checked while reading, so a huge file is refused before it costs memory.
MAX_TESTS = 100_000


def sha256_text(text: str) -> str:
    """The hash of the file's bytes (parse_file decodes UTF-8 strictly, so this round-trips)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def check_size(text: str, what: str) -> None:
    if len(text) > MAX_BYTES:
        raise TokbenchError(f"the {what} file is larger than {MAX_BYTES // 2**20} MiB")


def check_tests(n: int, what: str) -> None:
    if n > MAX_TESTS:
        raise TokbenchError(
            f"the {what} holds more than {MAX_TESTS:,} tests, more than tokbench imports from "
            "one file: split it, or import the rows you want to compare"
        )


def check_depth(value: Any, what: str, text_keys: bool = False) -> None:
    """Refuse data nested deeper than MAX_DEPTH and, with `text_keys`, a key that is not a
    string (YAML allows `1:` or `null:` as keys; JSON, and every tool's report, does not),
    walking iteratively (no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TokbenchError(f"the {what} file nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            odd = [k for k in item if not isinstance(k, str)] if text_keys else []
            if odd:
                raise TokbenchError(
                    f"the {what} file has a key that is not text ({str(odd[0])[:40]!r}), "
                    "which no benchmark tool writes"
                )
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))


def load_json(text: str, what: str) -> Any:
    """Parse JSON text with size and depth bounds; errors become one TokbenchError sentence."""
    check_size(text, what)
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise TokbenchError(f"the {what} file nests deeper than {MAX_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise TokbenchError(
            f"the {what} file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except ValueError as exc:  # an integer of thousands of digits (int_max_str_digits)
        raise TokbenchError(f"the {what} file holds a number too long to read ({exc})") from exc
    check_depth(value, what)
    return value


def dumps(value: Any) -> str:
    """Compact, stable JSON for `extra` fields."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def opt_float(value: Any) -> float | None:
    """A number as float; None for absent, empty or non-numeric values (tools write 'null', '')."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        s = value.strip()
        if s.lower() == "inf":
            return math.inf
        try:
            return float(s)
        except ValueError:
            return None
    return None


def opt_int(value: Any) -> int | None:
    """An integer when the value is one (given as int, integral float or digits), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        s = value.strip()
        try:
            return int(s)
        except ValueError:
            f = opt_float(s)
            return int(f) if f is not None and math.isfinite(f) and f.is_integer() else None
    return None


def opt_str(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def get_path(data: Any, *keys: str) -> Any:
    """data[k1][k2]... or None when any step is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def common_value(values: list[Any]) -> Any:
    """The one value all items share, else None (a run-level field must hold for every test)."""
    distinct = {repr(v) for v in values}
    return values[0] if values and len(distinct) == 1 else None
