"""Where a benchmark's items come from: the subset shipped in the package, or the user's
files (full set or not) in the prefix-fair order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.evals.formats import read_gsm8k, read_path, read_shipped
from tokbench.evals.items import BENCHMARKS, EvalItem, prefix_fair_order

SUBSET_SIZE = 100
# the full test sets the shipped subsets stand for (items)
FULL_SIZES = {"gsm8k": 1319, "mmlu": 14042, "cmmlu": 11582, "ceval": 1346}


@dataclass(frozen=True, slots=True)
class ItemSet:
    """A benchmark's items in asking order, and the size of the set they estimate."""

    benchmark: str
    items: tuple[EvalItem, ...]
    population: int
    source: str  # builtin:gsm8k or the path


def shipped_items(name: str) -> list[EvalItem]:
    """The subset in the package, in asking order (GSM8K in its own JSONL layout)."""
    ref = resources.files("tokbench.evals").joinpath(f"data/{name}.jsonl")
    with resources.as_file(ref) as path:
        return read_gsm8k(path, name) if name == "gsm8k" else read_shipped(path, name)


def shots(name: str) -> list[tuple[str, str]]:
    """Few-shot examples (question, worked solution): GSM8K's train problems."""
    text = resources.files("tokbench.evals").joinpath(f"data/{name}_shots.jsonl").read_text()
    return [(o["question"], o["answer"]) for o in map(json.loads, text.splitlines()) if o]


def item_set(name: str, path: str | None, *, full: bool, limit: int | None = None) -> ItemSet:
    """The first `limit` items (default SUBSET_SIZE) of the benchmark's asking order, or
    every item of a full set given by path."""
    if name not in BENCHMARKS:
        raise TokbenchError(f"unknown benchmark {name!r}: use {', '.join(BENCHMARKS)}")
    bench = BENCHMARKS[name]
    if path is None:
        if not bench.shipped:
            raise TokbenchError(
                f"{name} does not ship with tokbench ({bench.license}, {bench.source}): "
                f"give its files with --data {name}=PATH"
            )
        if full:
            raise TokbenchError(f"--full needs the full {name} set: give it with --data")
        items = shipped_items(name)
        population, source = FULL_SIZES[name], f"builtin:{name}"
    else:
        items = prefix_fair_order(read_path(Path(path), name))
        population, source = len(items), str(path)
    kept = items if full else items[: limit or SUBSET_SIZE]
    return ItemSet(name, tuple(kept), population, source)
