"""One benchmark question, whatever file it came from; the benchmarks tokbench knows; and
the order items are asked in.

The order: every prefix of it is a fair sample of the whole benchmark.

Within each stratum (subject) the items are shuffled; the j-th of a stratum of N_h items gets
the key (j + u_h) / N_h, with u_h a random start in [0, 1), and all items are sorted by key.
Any prefix of n items then holds n·N_h/N items of each stratum, give or take one: a
proportional stratified sample (systematic within strata), and every item has the same
chance to be in it. So the plain mean of a prefix is the stratified estimate of the full
set, and stratification only narrows its spread compared with a simple random sample.
The seed fixes the order: the shipped subsets are the first items of this order."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

AnswerKind = Literal["number", "choice"]


@dataclass(frozen=True, slots=True)
class EvalItem:
    """`id` is stable across runs (benchmark/subject/row): a resumed run and `compare --ref`
    pair items by it. `answer` is the number as written (GSM8K) or the letter (A-D)."""

    id: str
    benchmark: str
    subject: str  # the stratum: MMLU's subject, GSM8K's count of solution steps
    question: str
    choices: tuple[str, ...]  # () for a numeric answer
    answer: str

    @property
    def kind(self) -> AnswerKind:
        return "choice" if self.choices else "number"


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    kind: AnswerKind
    language: str  # en | zh
    license: str
    shipped: bool  # a fixed subset ships in the package (tokbench/evals/data)
    source: str


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("gsm8k", "number", "en", "MIT", True, "github.com/openai/grade-school-math"),
        Benchmark("mmlu", "choice", "en", "MIT", True, "github.com/hendrycks/test"),
        Benchmark("cmmlu", "choice", "zh", "CC BY-NC-SA 4.0", False, "github.com/haonan-li/CMMLU"),
        Benchmark("ceval", "choice", "zh", "CC BY-NC-SA 4.0", False, "github.com/hkust-nlp/ceval"),
    )
}

SEED = 23  # issue 23: the shipped subsets and any full set given by path use it


def prefix_fair_order(items: list[EvalItem], seed: int = SEED) -> list[EvalItem]:
    strata: dict[str, list[EvalItem]] = defaultdict(list)
    for item in sorted(items, key=lambda i: i.id):
        strata[item.subject].append(item)
    keyed: list[tuple[float, str, EvalItem]] = []
    for subject, members in strata.items():
        rng = random.Random(f"{seed}:{subject}")  # per stratum: adding one leaves others be
        rng.shuffle(members)
        start = rng.random()
        keyed += [((j + start) / len(members), subject, it) for j, it in enumerate(members)]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [it for _, _, it in keyed]
