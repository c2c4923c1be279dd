"""The seed5 graders against realistic answers, each with its expected verdict."""

from __future__ import annotations

import pytest

from tokbench.grade.seed5 import (
    compare_decimals,
    essay_length,
    physics_choice,
    quatrain,
    weekday,
)

WEEKDAY = [
    ("昨天下雨了，而预报说星期三下雨，所以昨天是星期三，今天是星期四。", "pass", "Thursday"),
    ("**今天是星期四**", "pass", "Thursday"),
    ("昨天是週三，所以今天應該是週四。", "pass", "Thursday"),  # Traditional
    ("雨是星期三下的。所以今天为礼拜四（Thursday）。", "pass", "Thursday"),
    ("今天是星期４。", "pass", "Thursday"),  # full-width digit
    ("Yesterday was Wednesday, so today is Thursday.", "pass", "Thursday"),
    ("It rained on Wednesday... Today is **Thursday**.", "pass", "Thursday"),
    ("不是星期三，而是週四。", "pass", "Thursday"),  # last mention wins
    ("今天是星期三。", "fail", "Wednesday"),
    ("今天是星期四或星期五，取决于时区。", "fail", "Thursday/Friday"),  # hedge
    ("无法确定。", "fail", None),
    # a real Gemma 270M output: the forecast echoed (with the wrong day) is not an answer
    (
        "今天星期几，下雨天,今天星期几? mendatangower\n天气预报说本周星期四会下雨，今天星期几? "
        "mendatangower\nweather forecast for today, tomorrow",
        "fail",
        None,
    ),
    ("雨下在星期三。\n所以是星期四", "pass", "Thursday"),
]


@pytest.mark.parametrize(("answer", "verdict", "value"), WEEKDAY)
def test_weekday(answer: str, verdict: str, value: str | None) -> None:
    g = weekday(answer)
    assert (g.verdict, g.extracted) == (verdict, value), g.reason


DECIMALS = [
    ("9.11 和 9.9 比较：小数部分 0.11 < 0.90，所以 9.9 > 9.11。", "pass", "9.9"),
    ("很多人以为 9.11 更大，但其实 9.9 比 9.11 大。", "pass", "9.9"),
    ("结论：9.11 小于 9.9。", "pass", "9.9"),
    ("９．９ 大于 ９．１１", "pass", "9.9"),  # full-width
    ("As version numbers 9.11 is larger, but as decimals 9.9 is larger.", "pass", "9.9"),
    ("$9.9 > 9.11$, because 0.9 > 0.11.", "pass", "9.9"),
    ("The larger number is **9.9**.", "pass", "9.9"),
    ("9.11 比 9.9 大，因为 11 大于 9。", "fail", "9.11"),
    ("9.11 > 9.9", "fail", "9.11"),
    ("两个数差不多。", "fail", None),
]


@pytest.mark.parametrize(("answer", "verdict", "value"), DECIMALS)
def test_compare_decimals(answer: str, verdict: str, value: str | None) -> None:
    g = compare_decimals(answer)
    assert (g.verdict, g.extracted) == (verdict, value), g.reason


PHYSICS = [
    ("声音在空气中约 340m/s，所以错误的是 D。", "pass", "D"),
    ("答案：D", "pass", "D"),
    ("答案是（Ｄ）", "pass", "D"),  # full-width letter and parentheses
    ("\\boxed{D}", "pass", "D"),
    ("A、B、C 正确，D 错误。", "pass", "D"),
    ("Option A is true... The incorrect statement is D.", "pass", "D"),
    ("The answer is (D).", "pass", "D"),
    ("**答案：D**", "pass", "D"),
    ("错误的选项是 B。", "fail", "B"),
    ("Okay, let me think. All are correct.", "fail", None),  # no "O" from "Okay"
    ("Let me check each option.\n\n**D**", "pass", "D"),
    # a real Gemma 270M output: the options echoed back are not a choice
    (
        "A.在自然环境下，声音在固体中传播的速度最快。B.牛顿第一定律:一个物体如果不受力作用，"
        "将保持静止或匀速直线运动的状态。C.牛顿第三定律:对于每个作用力，都有一个相等而反向的"
        "反作用力。D.",
        "fail",
        None,
    ),
]


@pytest.mark.parametrize(("answer", "verdict", "value"), PHYSICS)
def test_physics(answer: str, verdict: str, value: str | None) -> None:
    g = physics_choice(answer)
    assert (g.verdict, g.extracted) == (verdict, value), g.reason


def test_essay_counts_han_and_punctuation_without_the_title() -> None:
    body = ("我" * 20 + "。") * 21  # 420 Han, 441 with punctuation
    g = essay_length("《那件事真让我感动》\n" + body + "\n（全文约450字）")
    assert g.verdict == "pass" and g.extracted == "420/441"
    short = essay_length("《题目》\n" + "短文。" * 20)
    assert short.verdict == "fail" and short.extracted == "40/60"
    en = essay_length("That Day Made Me Proud\n" + "word " * 450, english=True)
    assert en.verdict == "pass" and en.extracted == "450"


POEM = (
    "《秋思》\n霜重千山染，\n寒江独雁鸣。\n枯枝托冷月，\n归客暮中行。\n\n"
    "意象分析：霜与孤雁写出深秋的萧瑟，枯枝冷月暗示孤独，归客暮行寄托了思乡之情与岁月流逝之感。"
)


def test_quatrain_pass_and_forms() -> None:
    g = quatrain(POEM)
    assert g.verdict == "pass", g.reason
    assert g.extracted == "霜重千山染/寒江独雁鸣/枯枝托冷月/归客暮中行"
    two_per_line = (
        "西风凋木叶，寒露浸枯杨。\n孤雁穿云去，残荷立晚塘。\n"
        "**意象解析：** 枯杨象征生命的脆弱，孤雁象征漂泊，残荷化用李商隐的诗意，构建出孤寂的意境。"
    )
    assert quatrain(two_per_line).verdict == "pass"


def test_quatrain_failures() -> None:
    seven = "落叶纷纷舞秋风，\n孤雁影天忆远方。\n秋色渐深寒意浓，\n心中何处寄清霜。\n赏析：……"
    g = quatrain(seven)
    assert g.verdict == "fail" and "seven-character" in g.reason
    no_rhyme = "秋风扫落叶，\n一雁鸣天外。\n岁晚心犹壮，\n寒霜见本真。\n"
    g = quatrain(no_rhyme)
    assert g.verdict == "fail" and "rhyme" in g.reason and "analysis" in g.reason
    trad = quatrain(POEM.replace("雁", "雁").replace("归", "歸"))
    assert trad.verdict == "pass", trad.reason


def test_grade_answer_states_and_errors() -> None:
    from tokbench.grade.grading import grade_answer

    assert grade_answer("seed5.weekday", "", "thinking_truncated", None).verdict == "no_answer"
    assert grade_answer("seed5.weekday", "", "empty", None).verdict == "no_answer"
    assert grade_answer("seed5.weekday", "x", "answered", "boom").verdict == "error"
    g = grade_answer("seed5.weekday", "今天是星期四", "answered", None)
    assert (g.verdict, g.grader) == ("pass", "seed5.weekday")


def test_unknown_grader_in_a_suite_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tokbench.errors import TokbenchError
    from tokbench.suites.loader import load_suite

    f = tmp_path / "s.toml"
    f.write_text('[[items]]\nid = "a"\nprompt = "x"\ngrader = "nope"\n')
    with pytest.raises(TokbenchError, match="unknown grader 'nope'"):
        load_suite(str(f))


def test_health_flags() -> None:
    from tokbench.core.records import RequestRecord
    from tokbench.results.quality import health, repetition

    assert repetition("天气预报\n天气预报\n天气预报\n")
    assert repetition("The answer is " + "la " * 30)
    assert not repetition("一首诗。\n第二行。\n第三行。")

    def rec(prompt: str, answer: str) -> RequestRecord:
        return RequestRecord("r", "i", 0, "t", "ok", None, prompt, answer, "", None)

    assert health(rec("今天星期几？请回答。", "Today is Thursday, because yesterday was Wed.")) == (
        "language_switch",
    )
    assert (
        health(rec("今天星期几？", "今天是星期四。因为昨天是星期三，下了雨，所以今天是星期四。"))
        == ()
    )


def test_items_needed_matches_the_usual_formula() -> None:
    from tokbench.results.quality import items_needed

    assert items_needed(0.8, 0.9) == 199  # two-sided 5 %, power 80 %
    assert items_needed(0.5, 0.7) == 93  # (1.96*0.6928 + 0.8416*0.6782)^2 / 0.04


THINKING_CASES = [
    # (item grader, streamed answer-channel pieces, separate reasoning pieces, finish, verdict)
    (
        "seed5.compare-decimals",
        ["<think>", "9.11 looks bigger? 9.11 > 9.9?", "</think>", "所以 9.9 更大。"],
        [],
        "stop",
        "pass",
    ),
    (
        "seed5.compare-decimals",
        ["Hmm, 9.9 > 9.11 surely", "</think>", "\n\n9.11 比 9.9 大"],
        [],
        "stop",
        "fail",
    ),  # no opening tag: the template opened it; only the answer counts
    (
        "seed5.weekday",
        ["今天是星期四。"],
        ["预报说星期三下雨", "，今天是星期三？不对"],
        "stop",
        "pass",
    ),
    ("seed5.weekday", ["<think>", "星期三下雨，今天是星期四"], [], "length", "no_answer"),
    ("seed5.physics-choice", [], ["D 错误，因为声速约 340m/s"], "length", "no_answer"),
    ("seed5.physics-choice", ["<think>\n\n</think>", "**答案：Ｄ**"], [], "stop", "pass"),
    ("seed5.quatrain", ["<think>写一首五绝</think>", POEM], [], "stop", "pass"),
]


@pytest.mark.parametrize(("grader", "pieces", "reasoning", "finish", "verdict"), THINKING_CASES)
def test_only_the_answer_is_graded(
    grader: str, pieces: list[str], reasoning: list[str], finish: str, verdict: str
) -> None:
    from tokbench.core.metrics import request_metrics
    from tokbench.core.trace import Recorder
    from tokbench.grade.grading import grade_answer

    rec = Recorder(0)
    t = 0
    for x in reasoning:
        t += 1
        rec.add(t, "thinking", x)
    for x in pieces:
        t += 1
        rec.add(t, "answer", x)
    trace = rec.finish(t + 1, finish_reason=finish)
    m = request_metrics(trace)
    g = grade_answer(grader, trace.text("answer"), m.answer_state, None)
    assert g.verdict == verdict, (g.reason, trace.text("answer"))
