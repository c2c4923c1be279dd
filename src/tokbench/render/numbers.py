"""Number formatting shared by the terminal and Markdown renderers."""

from __future__ import annotations

from tokbench.core.stats import Summary
from tokbench.results.summary import PassRate

DASH = "–"


def num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return DASH
    if isinstance(value, int):
        return str(value)
    return f"{value:,.{digits}f}"


def mean_sd(s: Summary, digits: int = 1) -> str:
    if s.mean is None:
        return DASH
    if s.sd is None:
        return num(s.mean, digits)
    return f"{num(s.mean, digits)} ± {num(s.sd, digits)}"


def count(value: int | None, source: str | None) -> str:
    """A token count; estimates get a '~' so they never pass for exact."""
    if value is None:
        return DASH
    return f"~{value}" if source == "estimate" else str(value)


def human_bytes(n: float) -> str:
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f} B"


def gib(n_bytes: int | None) -> str:
    return DASH if n_bytes is None else f"{n_bytes / 2**30:.1f} GiB"


def target_label(backend: str, model: str | None, url: str | None) -> str:
    where = "embedded llama.cpp" if backend == "embedded" else (url or backend)
    return f"{model or '?'} via {where}"


def pass_rate(p: object | None) -> str:
    """`3/5 60% [23-88]`: passes of graded answers, the rate, its Wilson 95% interval."""
    if p is None:
        return DASH

    assert isinstance(p, PassRate)
    return f"{p.passed}/{p.n} {p.rate:.0%} [{p.low:.0%}–{p.high:.0%}]"
