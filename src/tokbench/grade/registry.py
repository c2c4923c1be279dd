"""Graders by name, as suite files refer to them (`grader = "seed5.weekday"`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tokbench.grade import Grade, seed5

GRADERS: dict[str, Callable[[str], Grade]] = {
    "seed5.essay": seed5.essay_length,
    "seed5.essay-en": partial(seed5.essay_length, english=True),
    "seed5.compare-decimals": seed5.compare_decimals,
    "seed5.quatrain": seed5.quatrain,
    "seed5.weekday": seed5.weekday,
    "seed5.physics-choice": seed5.physics_choice,
}


def grade_answer(grader: str, answer: str, answer_state: str, error: str | None) -> Grade:
    """Grade the answer only (never the thinking); no answer is `no_answer`, not a fail."""
    if error:
        return Grade("error", None, f"the request failed: {error}", grader)
    if answer_state in ("thinking_truncated", "empty"):
        why = (
            "the token limit hit inside thinking"
            if answer_state == "thinking_truncated"
            else "the answer is empty"
        )
        return Grade("no_answer", None, why, grader)
    fn = GRADERS.get(grader)
    if fn is None:
        return Grade("error", None, f"unknown grader {grader!r}", grader)
    try:
        g = fn(answer)
    except Exception as exc:  # a grader bug must not lose the run
        return Grade("error", None, f"grader {grader} failed: {type(exc).__name__}: {exc}", grader)
    return Grade(g.verdict, g.extracted, g.reason, grader)
