"""How each benchmark is asked. Documented for users in docs/evals.md and `tokbench eval --help`.

- chat (default): one user message, zero-shot, chain-of-thought allowed, asking to end with
  a fixed final-answer phrase ("The answer is N" / "The answer is X", Chinese sets
  "答案：X"). With --shots K (GSM8K), K worked train problems go first as user/assistant turns.
- completion: the lm-eval text layout ("Question: ...\nAnswer:" after K solved examples),
  sent as one user message (tokbench speaks the chat APIs; a base model continues the text).

No system prompt: DeepSeek's usage notes for R1 ask for none.
"""

from __future__ import annotations

import re

from tokbench.core.config import Sampling
from tokbench.core.trace import ChatRequest
from tokbench.errors import TokbenchError
from tokbench.evals.data_files import shots
from tokbench.evals.items import BENCHMARKS, EvalItem

STYLES = ("chat", "completion")
MAX_SHOTS = 8
_CALC = re.compile(r"<<[^>]*>>")

EN_NUMBER = "Solve the problem step by step, then end with a line: The answer is N (N a number)."
EN_CHOICE = "Think it through, then end with a line: The answer is X (X one of A, B, C, D)."
ZH_CHOICE = "请逐步思考，最后一行写：答案：X（X 为 A、B、C、D 之一）。"


def _solution(text: str) -> str:
    """A GSM8K reference solution, its '#### N' line turned into the asked final phrase."""
    body, _, final = _CALC.sub("", text).partition("####")
    return f"{body.strip()}\nThe answer is {final.strip()}."


def _question(item: EvalItem) -> str:
    if not item.choices:
        return item.question
    options = "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(item.choices))
    return f"{item.question}\n{options}"


def _subject_line(item: EvalItem) -> str:
    subject = item.subject.replace("_", " ")
    if BENCHMARKS[item.benchmark].language == "zh":
        return f"以下是关于{subject}的单项选择题。\n\n"
    return f"The following is a multiple choice question about {subject}.\n\n"


def messages(item: EvalItem, style: str, n_shots: int) -> tuple[tuple[str, str], ...]:
    if n_shots and item.kind == "choice":
        raise TokbenchError("--shots works for GSM8K only (its train problems ship as examples)")
    examples = shots(item.benchmark)[:n_shots] if n_shots else []
    if style == "completion":
        head = "".join(f"Question: {q}\nAnswer: {_solution(a)}\n\n" for q, a in examples)
        lead = _subject_line(item) if item.choices else ""
        return (("user", f"{lead}{head}Question: {_question(item)}\nAnswer:"),)
    if item.kind == "choice":
        zh = BENCHMARKS[item.benchmark].language == "zh"
        ask = ZH_CHOICE if zh else EN_CHOICE
        return (("user", f"{_subject_line(item)}{_question(item)}\n\n{ask}"),)
    turns: list[tuple[str, str]] = []
    for q, a in examples:
        turns += [("user", f"{q}\n\n{EN_NUMBER}"), ("assistant", _solution(a))]
    return (*turns, ("user", f"{item.question}\n\n{EN_NUMBER}"))


def request(
    item: EvalItem,
    *,
    style: str,
    n_shots: int,
    max_tokens: int,
    sampling: Sampling,
    extra: dict[str, object],
) -> ChatRequest:
    return ChatRequest(messages(item, style, n_shots), max_tokens, sampling, dict(extra))
