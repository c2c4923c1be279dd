"""Grading pipelines as data, the item banks, multiple-choice JSONL and the judge step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.errors import TokbenchError
from tokbench.grade.grading import grade_answer
from tokbench.grade.pipeline import GradeSpec, run_pipeline
from tokbench.suites.loader import load_suite


def spec(**kw: object) -> GradeSpec:
    return GradeSpec.model_validate(kw)


def test_extractors_and_scorers() -> None:
    num = spec(extract="last_number", score="numeric", expected=391)
    assert run_pipeline(num, "17 × 23 = 391").verdict == "pass"
    assert run_pipeline(num, "约 1,391").verdict == "fail"
    assert run_pipeline(num, "不知道").verdict == "fail"
    tol = spec(extract="last_number", score="numeric", expected=9.8, tolerance=0.05)
    assert run_pipeline(tol, "g ≈ ９.８１ m/s²").verdict == "pass"  # full-width digits
    rx = spec(
        extract="regex",
        pattern=r"(?i)answer:\s*(\w+)",
        normalize=["lower"],
        score="exact",
        expected="Paris",
    )
    assert run_pipeline(rx, "Answer: PARIS").verdict == "pass"
    js = spec(extract="json_field", field="answer", score="exact", expected="42")
    assert run_pipeline(js, 'Sure.\n```json\n{"answer": 42}\n```').verdict == "pass"
    anyof = spec(score="contains_any", expected=["床前明月光", "床前看月光"])
    assert run_pipeline(anyof, "第一句是“床前明月光”。").verdict == "pass"
    allof = spec(score="contains_all", expected=["4", "5"], normalize=["no_spaces"])
    assert run_pipeline(allof, "4 句，每句 5 字").verdict == "pass"
    assert run_pipeline(allof, "4 句").verdict == "fail"
    length = spec(score="length_range", unit="words", min=3, max=5)
    assert run_pipeline(length, "one two three four").verdict == "pass"
    poem = spec(score="poem_form", lines=4, chars=7)
    assert (
        run_pipeline(
            poem, "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
        ).verdict
        == "pass"
    )
    choice = spec(extract="choice_letter", score="exact", expected="B")
    assert run_pipeline(choice, "The answer is (B).").verdict == "pass"
    py = spec(score="python", function="tests.grade.test_pipeline:has_hello")
    assert run_pipeline(py, "hello world").verdict == "pass"


def has_hello(answer: str) -> bool:
    return "hello" in answer


POEMS = {
    (4, 5): "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。",
    (4, 7): "朝辞白帝彩云间，千里江陵一日还。\n两岸猿声啼不住，轻舟已过万重山。",
    (8, 5): "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。"
    "烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。",
}


def oracle(s: GradeSpec) -> str:
    """A correct answer to an item, written from its grading spec."""
    if s.score == "poem_form":
        return POEMS[(s.lines, s.chars)]
    exp = s.expected[0] if isinstance(s.expected, list) else s.expected
    if s.extract == "weekday":
        return f"So the answer: today is {exp}."
    if s.extract == "larger_of":
        return f"Compare digit by digit. {exp} is larger."
    if s.extract == "regex":
        return f"It was a {str(exp).capitalize()}."
    return f"Working it out...\n{exp}"


@pytest.mark.parametrize("name", ["basics", "seed5-variants"])
def test_banks_are_answerable_and_not_passable_by_rote(name: str) -> None:
    suite = load_suite(name)
    assert len(suite.items) == (60 if name == "basics" else 15)
    zh = sum(1 for i in suite.items if any("\u4e00" <= ch <= "\u9fff" for ch in i.prompt))
    assert 0 < zh < len(suite.items) or name == "seed5-variants"  # bilingual bank
    for item in suite.items:
        assert item.grade_spec is not None, item.id
        right = grade_answer(None, oracle(item.grade_spec), "answered", None, item.grade_spec)
        assert right.verdict == "pass", (item.id, right.reason)
        wrong = grade_answer(None, "I am not sure.", "answered", None, item.grade_spec)
        assert wrong.verdict == "fail", item.id


def test_variants_have_their_own_answers() -> None:
    items = {i.id: i.grade_spec for i in load_suite("seed5-variants").items}
    assert items["weekday-monday"].expected == "Tuesday"  # type: ignore[union-attr]
    assert items["weekday-sunday"].expected == "Monday"  # type: ignore[union-attr]
    assert items["compare-7.18-7.8"].expected == "7.8"  # type: ignore[union-attr]
    assert items["physics-wrong-B"].expected == "B"  # type: ignore[union-attr]
    prompt = next(i.prompt for i in load_suite("seed5-variants").items if i.id == "physics-wrong-B")
    assert "B.声音在空气中的传播速度为 1000m/s。" in prompt


def test_jsonl_multiple_choice(tmp_path: Path) -> None:
    f = tmp_path / "mc.jsonl"
    f.write_text(
        json.dumps({"question": "2+2?", "choices": ["3", "4", "5"], "answer": 1})
        + "\n"
        + json.dumps(
            {
                "id": "cap",
                "question": "Capital of France?",
                "choices": {"A": "Lyon", "B": "Paris"},
                "answer": "Paris",
            }
        )
        + "\n",
        "utf-8",
    )
    s = load_suite(str(f))
    assert [i.id for i in s.items] == ["q1", "cap"]
    assert "A. 3\nB. 4\nC. 5" in s.items[0].prompt
    g = grade_answer(None, "答案：B", "answered", None, s.items[0].grade_spec)
    assert g.verdict == "pass"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"question": "x", "choices": ["a", "b"], "answer": 1}\n'
        '{"question": "y", "choices": ["a"], "answer": 0}\n',
        "utf-8",
    )
    with pytest.raises(TokbenchError, match=r"bad.jsonl, line 2, field 'choices'"):
        load_suite(str(bad))


def test_judge_is_labelled_as_judged() -> None:
    j = spec(score="judge", judge={"url": "", "rubric": "Pass if the answer is polite."})
    with FakeServer(FakeConfig(token="Polite enough.\nPASS", n_tokens=1)) as srv:
        j.judge.url = srv.url  # type: ignore[union-attr]
        g = grade_answer(None, "Thank you!", "answered", None, j, prompt="Say thanks.")
        sent = srv.requests[-1]["messages"]
    assert g.verdict == "pass" and g.grader == "judge:fake-model"
    assert g.reason.startswith("judged (not deterministic)")
    assert "Pass if the answer is polite." in sent[0]["content"]
    assert "Thank you!" in sent[1]["content"]


def test_run_basics_end_to_end_is_graded(tb_home: Path) -> None:
    with FakeServer(FakeConfig(n_tokens=3, itl_s=0.001)) as srv:
        r = tokbench("run", "--url", srv.url, "--suite", "basics", "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["requests"]) == 60
    assert all(q["grade"]["verdict"] == "fail" for q in doc["requests"])  # "tok tok tok"
    assert doc["summary"]["quality"]["n"] == 60 and doc["summary"]["quality"]["passed"] == 0
