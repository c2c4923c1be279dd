"""Grade one answer: a named grader, a pipeline from the suite file, or an LLM judge."""

from __future__ import annotations

from tokbench.core.records import Grade
from tokbench.grade.judge import judge_grade
from tokbench.grade.pipeline import GradeSpec, GradingTimeout, run_pipeline
from tokbench.grade.registry import GRADERS


def grade_answer(
    grader: str | None,
    answer: str,
    answer_state: str,
    error: str | None,
    spec: GradeSpec | None = None,
    prompt: str = "",
) -> Grade:
    """Grade the answer only (never the thinking) with a named grader or a pipeline;
    no answer is `no_answer`, not a fail."""
    grader = grader or ("judge" if spec and spec.score == "judge" else "pipeline")
    if error:
        return Grade("error", None, f"the request failed: {error}", grader)
    if answer_state in ("thinking_truncated", "empty"):
        why = (
            "the token limit hit inside thinking"
            if answer_state == "thinking_truncated"
            else "the answer is empty"
        )
        return Grade("no_answer", None, why, grader)
    try:
        if spec is not None:
            if spec.score == "judge" and spec.judge is not None:
                return judge_grade(spec.judge, prompt, answer)
            g = run_pipeline(spec, answer)
        else:
            fn = GRADERS.get(grader)
            if fn is None:
                return Grade("error", None, f"unknown grader {grader!r}", grader)
            g = fn(answer)
    except GradingTimeout as exc:
        return Grade("error", None, str(exc), grader)
    except Exception as exc:  # a grader bug must not lose the run
        return Grade("error", None, f"grader {grader} failed: {type(exc).__name__}: {exc}", grader)
    return Grade(g.verdict, g.extracted, g.reason, grader)
