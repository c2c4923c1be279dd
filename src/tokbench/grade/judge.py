"""The optional judge step: another model grades an answer against a rubric.

Its grade is labelled `judge:MODEL` and its reason starts with "judged": a judged
score is an opinion, never passed off as a deterministic one."""

from __future__ import annotations

import os
import re
from typing import Any

from tokbench.backends.openai import OpenAIBackend
from tokbench.core.config import Sampling
from tokbench.core.records import Grade
from tokbench.core.trace import ChatRequest
from tokbench.errors import TokbenchError
from tokbench.grade.pipeline import Judge

_BACKENDS: dict[tuple[str, str | None], Any] = {}
_VERDICT = re.compile(r"\b(PASS|FAIL)\b")


def _backend(j: Judge) -> Any:

    key = (j.url, j.model)
    if key not in _BACKENDS:
        api_key = os.environ.get(j.api_key_env) if j.api_key_env else None
        _BACKENDS[key] = OpenAIBackend(
            j.url, j.model, api_key=api_key, api_key_env=j.api_key_env, timeout_s=120
        )
    return _BACKENDS[key]


def judge_grade(j: Judge, prompt: str, answer: str) -> Grade:

    try:
        backend = _backend(j)
    except TokbenchError as exc:
        return Grade("error", None, f"judge unavailable: {exc}", f"judge:{j.model or j.url}")
    request = ChatRequest(
        (
            ("system", "You grade answers strictly by this rubric:\n" + j.rubric),
            (
                "user",
                f"Question:\n{prompt}\n\nAnswer to grade:\n{answer}\n\n"
                "Give one sentence of reasoning, then PASS or FAIL alone on the last line.",
            ),
        ),
        512,
        Sampling(temperature=0.0),
    )
    trace = backend.stream(request)
    name = f"judge:{backend.model}"
    if trace.error:
        return Grade("error", None, f"judge request failed: {trace.error}", name)
    verdicts = _VERDICT.findall(trace.text("answer"))
    if not verdicts:
        return Grade("error", None, "the judge gave no PASS or FAIL", name)
    verdict = verdicts[-1]
    return Grade(
        "pass" if verdict == "PASS" else "fail",
        verdict,
        f"judged (not deterministic) by {backend.model}: " + trace.text("answer").strip()[-300:],
        name,
    )
