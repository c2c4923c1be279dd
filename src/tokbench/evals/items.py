"""One benchmark question, whatever file it came from, and the benchmarks tokbench knows."""

from __future__ import annotations

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
