"""Published scores (data/published.toml) found for a model name, to show beside its estimate."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Published:
    model: str
    benchmark: str
    accuracy_pct: float
    setting: str
    source: str
    match: tuple[str, ...]
    exclude: tuple[str, ...]


@cache
def published_scores() -> tuple[Published, ...]:
    text = resources.files("tokbench.evals").joinpath("data/published.toml").read_text("utf-8")
    return tuple(
        Published(
            s["model"],
            s["benchmark"],
            float(s["accuracy"]),
            s["setting"],
            s["source"],
            tuple(s["match"]),
            tuple(s.get("exclude", ())),
        )
        for s in tomllib.loads(text)["score"]
    )


def normalized(name: str) -> str:
    """'Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf' -> 'meta-llama-3.1-8b-instruct-q4-k-m'."""
    base = re.split(r"[\\/]", name)[-1].lower()
    return re.sub(r"[\s_]+", "-", base.removesuffix(".gguf"))


def published_for(model: str | None, benchmark: str) -> Published | None:
    """The row whose longest `match` the model name contains, unless an `exclude` word is in it."""
    if not model:
        return None
    name = normalized(model)
    best: tuple[int, Published] | None = None
    for p in published_scores():
        if p.benchmark != benchmark or any(x in name for x in p.exclude):
            continue
        for key in p.match:
            if key in name and (best is None or len(key) > best[0]):
                best = (len(key), p)
    return best[1] if best else None
