"""Prompt formats: chat zero-shot and few-shot, completion layout, Chinese sets in Chinese."""

from __future__ import annotations

import pytest

from tokbench.errors import TokbenchError
from tokbench.evals.data_files import shipped_items, shots
from tokbench.evals.items import EvalItem
from tokbench.evals.prompts import messages

GSM = shipped_items("gsm8k")[0]
CM = EvalItem("cmmlu/agronomy/0", "cmmlu", "agronomy", "问题", ("甲", "乙", "丙", "丁"), "B")
MM = EvalItem("mmlu/college_physics/3", "mmlu", "college_physics", "Q?", ("a", "b", "c", "d"), "C")


def test_chat_zero_shot() -> None:
    (turn,) = messages(GSM, "chat", 0)
    assert turn[0] == "user" and turn[1].startswith(GSM.question)
    assert "The answer is N" in turn[1]


def test_chat_few_shot_gives_worked_examples_as_turns() -> None:
    turns = messages(GSM, "chat", 3)
    assert [r for r, _ in turns] == ["user", "assistant"] * 3 + ["user"]
    q0, a0 = shots("gsm8k")[0]
    assert turns[0][1].startswith(q0)
    assert "<<" not in turns[1][1] and "####" not in turns[1][1]
    assert turns[1][1].endswith(f"The answer is {a0.split('####')[1].strip()}.")


def test_completion_layout() -> None:
    (turn,) = messages(GSM, "completion", 2)
    assert turn[1].count("Question: ") == 3 and turn[1].endswith("\nAnswer:")
    (mc,) = messages(MM, "completion", 0)
    assert "about college physics" in mc[1] and mc[1].endswith("C. c\nD. d\nAnswer:")


def test_multiple_choice_in_its_language() -> None:
    (zh,) = messages(CM, "chat", 0)
    assert "以下是关于agronomy的单项选择题" in zh[1] and "答案：X" in zh[1]
    assert "A. 甲\nB. 乙\nC. 丙\nD. 丁" in zh[1]
    (en,) = messages(MM, "chat", 0)
    assert "The answer is X" in en[1]


def test_few_shot_multiple_choice_is_refused_in_one_sentence() -> None:
    with pytest.raises(TokbenchError, match="GSM8K only"):
        messages(MM, "chat", 2)
