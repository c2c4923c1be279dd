"""Are grading and answer health bounded? One huge answer through every grader, its health,
and the run summary that the terminal, the run folder and `show` each compute.

Builds an answer of --mb megabytes (Chinese rambling, or "a" repeated: the fault suite's
50 MB line) that ends with a verdict for each seed question, then prints the seconds of
each seed grader, a regex pipeline, the answer's health, and `summarize_run` over
--answers such records (health stored, as `run` stores it).

Target (issue 22): a 50 MB answer graded and summarised in under 2 s in all.

Usage: python bench/grade_big.py [--mb 50] [--answers 5] [--text zh|a]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tokbench.core.records import RequestRecord
from tokbench.grade.grading import grade_answer
from tokbench.grade.pipeline import GradeSpec
from tokbench.grade.registry import GRADERS
from tokbench.results.quality import health
from tokbench.results.summary import summarize_run

VERDICT = "\n答案是 D。今天是星期四。9.9 比 9.11 大。Answer: 42"


def answer(mb: float, text: str) -> str:
    n = int(mb * 1024 * 1024)
    unit = "嗯，让我再想一想这个问题。" if text == "zh" else "a"
    body = unit * (n // len(unit.encode()) + 1)
    return body[: n // len(unit.encode()) * len(unit)] + VERDICT


def timed(label: str, fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"{label:28s} {dt * 1000:9.1f} ms  {str(out)[:60]}")
    return dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mb", type=float, default=50.0)
    p.add_argument("--answers", type=int, default=5)
    p.add_argument("--text", choices=("zh", "a"), default="zh")
    a = p.parse_args()
    text = answer(a.mb, a.text)
    print(f"answer: {len(text.encode()) / 2**20:.1f} MB, {len(text):,} characters")
    total = 0.0
    for name in GRADERS:
        total += timed(name, lambda n=name: grade_answer(n, text, "ok", None).verdict)  # type: ignore[misc]
    spec = GradeSpec(extract="regex", pattern=r"Answer:\s*(\d+)", score="exact", expected="42")
    total += timed("regex pipeline", lambda: grade_answer(None, text, "ok", None, spec).verdict)
    rec = RequestRecord("r", "physics-mcq", 0, "t", "ok", None, "选择错误的一项。", text, "", None)
    flags: tuple[str, ...] = ()

    def once() -> tuple[str, ...]:
        nonlocal flags
        flags = health(rec)
        return flags

    total += timed("health (once per answer)", once)
    recs = [replace(rec, rep=i, health=flags) for i in range(a.answers)]
    total += timed(f"summarize_run ({a.answers} answers)", lambda: summarize_run(recs).health)
    print(f"{'total':28s} {total * 1000:9.1f} ms  (target: under 2000 ms for 50 MB)")


if __name__ == "__main__":
    main()
