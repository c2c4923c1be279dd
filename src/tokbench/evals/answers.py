"""Grade a benchmark answer the way a reasoning model writes it.

Only the answer is read, never the thinking: the backends put `reasoning_content` and
`<think>` blocks in a separate channel, and text up to a stray `</think>` left in the answer
is dropped here too. Only the answer's last TAIL_CHARS are searched (the verdict is at the
end; the work stays linear and bounded however long the answer). The *last* stated final
answer wins, since answers reason aloud first.

A truncated answer (the token limit hit) or one with thinking only counts as wrong, marked
so in its reason; it is never dropped from the estimate."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from tokbench.core.records import Grade
from tokbench.evals.items import EvalItem
from tokbench.grade.text import normalize

TAIL_CHARS = 4096
TRUNCATED = "truncated"  # reasons start with these marks
THINKING_ONLY = "thinking only"

_NUM = r"(-?\$?\s?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\$?\s?\d+(?:\.\d+)?)"
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{)?\s*([^{}]{1,60})\}")
_FINAL_NUMBER = [
    re.compile(r"####\s*" + _NUM),
    re.compile(r"(?i:(?:final\s+)?answer\s*(?:is|:|=|would\s+be)?\s*[:=]?)[^\d\n\-$]{0,20}" + _NUM),
    re.compile(r"(?:答案|结果|最终答案)\s*(?:是|为|应该是|应为)?\s*[:：]?[^\d\n\-]{0,20}" + _NUM),
    re.compile(r"(?:一共|总共|共计|合计)[^\d\n。\-]{0,10}" + _NUM),
]
# "So ... 18 dollars." / "所以……18元。": the last number of the last concluding clause
_CONCLUDE = re.compile(
    r"(?:所以|因此|故|综上|(?i:\btherefore\b|\bthus\b|\bso\b))[^。.!?！？\n]{0,300}"
)
_ANY_NUM = re.compile(_NUM)

_LETTER = r"[(（]?\s*\**([A-D])\**\s*[)）]?(?![A-Za-z])"
_FINAL_CHOICE = [
    re.compile(r"(?:正确)?答案\s*(?:是|为|应该是|应为|应选|选)?\s*[:：]?\s*(?:选项)?\s*" + _LETTER),
    re.compile(r"选\s*(?:择|项)?\s*" + _LETTER),
    re.compile(
        r"(?i:answer\s*(?:is|:|would\s+be|should\s+be)?\s*:?\s*(?:option|choice)?)\s*" + _LETTER
    ),
    re.compile(
        r"(?i:(?:option|choice)\s*)" + _LETTER + r"(?i:\s*is\s+(?:the\s+)?(?:correct|right))"
    ),
]
_LONE = re.compile(r"^\W*([A-D])(?:[.)：:]\s.{0,200})?\W*$")


def _tail(answer: str) -> str:
    cut = answer.rfind("</think>")
    text = answer[cut + len("</think>") :] if cut >= 0 else answer
    return normalize(text[-TAIL_CHARS:])


def number_value(text: str) -> Decimal | None:
    t = text.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


def extract_number(answer: str) -> tuple[str | None, str]:
    """(the final number as written, how it was found)."""
    raw_tail = answer[-TAIL_CHARS:]
    boxed = list(_BOXED.finditer(raw_tail.replace("\u2212", "-")))
    t = _tail(answer).replace("\u2212", "-")
    found = [(m.start(), m.group(1)) for p in _FINAL_NUMBER for m in p.finditer(t)]
    if boxed:  # \boxed{} is the most explicit: it wins when its content is a number
        nums = _ANY_NUM.findall(normalize(boxed[-1].group(1)))
        if nums:
            return nums[-1].strip(), "the last \\boxed{} answer"
    if found:
        return max(found)[1].strip(), "the last stated final answer"
    clauses = list(_CONCLUDE.finditer(t))
    for c in reversed(clauses):
        nums = _ANY_NUM.findall(c.group(0))
        if nums:
            return nums[-1].strip(), "the last number of the concluding sentence"
    nums = _ANY_NUM.findall(t)
    if nums:
        return nums[-1].strip(), "the last number in the answer (no stated final answer)"
    return None, "no number in the answer"


def extract_letter(answer: str) -> tuple[str | None, str]:
    """(A-D, how it was found): the last stated choice, else a letter alone on the last line."""
    t = _tail(answer)
    found = [(m.start(), m.group(1)) for p in _FINAL_CHOICE for m in p.finditer(t)]
    if found:
        return max(found)[1], "the last stated choice"
    lines = [ln for ln in t.splitlines() if ln.strip()]
    lone = _LONE.match(lines[-1]) if lines else None
    if lone:
        return lone.group(1), "the letter alone on the last line"
    return None, "no choice (A-D) stated in the answer"


def grade_eval(
    item: EvalItem,
    answer: str,
    *,
    finish_reason: str | None,
    answer_state: str,
    error: str | None,
) -> Grade:
    grader = f"eval:{item.kind}"
    if error:
        return Grade("error", None, f"the request failed: {error}", grader)
    if finish_reason == "length":
        why = "inside thinking" if answer_state != "answered" else "in the answer"
        return Grade(
            "fail", None, f"{TRUNCATED}: the token limit hit {why}; counts as wrong", grader
        )
    if answer_state != "answered" or not _tail(answer).strip():
        return Grade(
            "fail", None, f"{THINKING_ONLY}: no answer after the thinking; counts as wrong", grader
        )
    if item.kind == "choice":
        got, how = extract_letter(answer)
        ok = got == item.answer
    else:
        got, how = extract_number(answer)
        want, have = number_value(item.answer), number_value(got) if got else None
        ok = want is not None and have is not None and want == have
    if got is None:
        return Grade("fail", None, f"{how}; the answer is {item.answer}", grader)
    return Grade(
        "pass" if ok else "fail",
        got,
        f"{how} is {got}" + ("" if ok else f"; the answer is {item.answer}"),
        grader,
    )
