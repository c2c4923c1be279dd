"""Graders on the shapes real answers take: reasoning models with thinking (in the answer
channel or stray `</think>`), Chinese and English phrasings, boxed LaTeX, thousands
separators and units, truncated and thinking-only answers."""

from __future__ import annotations

import time

import pytest

from tokbench.evals.answers import TAIL_CHARS, extract_letter, extract_number, grade_eval
from tokbench.evals.items import EvalItem

NUMBER_CORPUS = [
    # (answer text, the number it states)
    ("Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18.\n#### 18", "18"),
    ("She makes $18 every day.\n\nThe answer is 18.", "18"),
    ("**Final Answer**\n\\[\n\\boxed{18}\n\\]", "18"),
    ("Total: 1,250 + 750 = 2,000 dollars.\n\nThe answer is $2,000.", "2,000"),
    ("所以她每天在农贸市场赚 18 美元。", "18"),
    ("她每天卖 9 个鸡蛋，每个 2 美元。\n答案：18 美元", "18"),
    ("答案是18元。", "18"),
    ("The temperature fell to -5 degrees.\nThe answer is -5.", "-5"),
    ("Each share is 2.5 kg, so the answer is 2.5 kg.", "2.5"),
    ("Let me compute: 3 + 4 = 7. Then 7 * 2 = 14 apples.", "14"),
    ("Okay, 9.11 vs... no. The answer is 20.\n\nWait, double check: 4 * 5 = 20. Yes.", "20"),
    ("</think>\n\nThe answer is 42.", "42"),
    ("The final answer is: $\\boxed{1,000}$", "1,000"),
    ("Ｔｈｅ ａｎｓｗｅｒ ｉｓ １８。", "18"),  # full-width
    ("Therefore, John needs 3 boxes.", "3"),
    ("一共需要 12 个苹果。", "12"),
]


@pytest.mark.parametrize(("answer", "want"), NUMBER_CORPUS)
def test_number_extraction(answer: str, want: str) -> None:
    assert extract_number(answer)[0] == want


CHOICE_CORPUS = [
    ("The mitochondria makes ATP, so the answer is B.", "B"),
    ("Option A is wrong because ... Option C fits.\n\nThe answer is C", "C"),
    ("答案：A", "A"),
    ("分析：A项错误，B项正确。\n答案是 B。", "B"),
    ("我选A。", "A"),
    ("**Answer: (D)**", "D"),
    ("Let's check each.\n\n(B)", "B"),
    ("C", "C"),
    ("the answer is a bit unclear, but I'd say the answer is D.", "D"),
    ("正确答案为（C）", "C"),
    ("The correct answer is $\\boxed{A}$.", "A"),
    ("First I thought the answer is A. Actually, no: the answer is B.", "B"),
    ("B. Paris", "B"),
]


@pytest.mark.parametrize(("answer", "want"), CHOICE_CORPUS)
def test_letter_extraction(answer: str, want: str) -> None:
    assert extract_letter(answer)[0] == want


@pytest.mark.parametrize(
    "answer", ["I am not sure which one.", "There are many answers here.", "答案不确定。"]
)
def test_no_letter(answer: str) -> None:
    assert extract_letter(answer)[0] is None


GSM = EvalItem("gsm8k/steps2/0", "gsm8k", "steps2", "q", (), "1,000")
MC = EvalItem("mmlu/anatomy/0", "mmlu", "anatomy", "q", ("a", "b", "c", "d"), "B")


def test_grade_compares_values_not_text() -> None:
    g = grade_eval(
        GSM, "The answer is 1000.", finish_reason="stop", answer_state="answered", error=None
    )
    assert (g.verdict, g.extracted) == ("pass", "1000")
    g = grade_eval(
        GSM, "The answer is $1,000.00", finish_reason="stop", answer_state="answered", error=None
    )
    assert g.verdict == "pass"
    g = grade_eval(
        GSM, "The answer is 100.", finish_reason="stop", answer_state="answered", error=None
    )
    assert (g.verdict, g.extracted) == ("fail", "100")
    assert "the answer is 1,000" in g.reason


def test_truncated_and_thinking_only_count_wrong_and_are_marked() -> None:
    cut = grade_eval(
        MC,
        "Let me think about B... the answer is B",
        finish_reason="length",
        answer_state="answered",
        error=None,
    )
    assert cut.verdict == "fail" and cut.reason.startswith("truncated")
    thinking = grade_eval(
        MC, "", finish_reason="length", answer_state="thinking_truncated", error=None
    )
    assert thinking.verdict == "fail" and thinking.reason.startswith("truncated")
    only = grade_eval(MC, "", finish_reason="stop", answer_state="empty", error=None)
    assert only.verdict == "fail" and only.reason.startswith("thinking only")
    failed = grade_eval(MC, "", finish_reason=None, answer_state="error", error="HTTP 500")
    assert failed.verdict == "error"


def test_the_thinking_is_never_graded() -> None:
    # the thinking names B; the answer after a stray </think> says C
    g = grade_eval(
        MC,
        "the answer is B? hmm\n</think>\nThe answer is C.",
        finish_reason="stop",
        answer_state="answered",
        error=None,
    )
    assert (g.verdict, g.extracted) == ("fail", "C")


def test_grading_is_bounded_in_the_answer_length() -> None:
    # a 2 MB ramble costs no more than its last TAIL_CHARS; the verdict at the end is found
    long = "1 + 1 = 2. " * 200_000 + "The answer is 1,000."
    t0 = time.perf_counter()
    g = grade_eval(GSM, long, finish_reason="stop", answer_state="answered", error=None)
    assert g.verdict == "pass"
    assert time.perf_counter() - t0 < 0.5
    early = "The answer is 1,000. " + "x" * (2 * TAIL_CHARS)
    assert extract_number(early)[0] is None
