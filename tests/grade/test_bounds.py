"""Grading is bounded: a suite's pathological pattern costs a fraction of a second, a huge
answer is graded and its health read in time linear in nothing but a fixed window, and an
answer's health is computed once and stored with it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.core.records import RequestRecord
from tokbench.errors import TokbenchError
from tokbench.grade import seed5
from tokbench.grade.grading import grade_answer
from tokbench.grade.pipeline import REGEX_TIMEOUT_S, GradeSpec, run_pipeline
from tokbench.grade.registry import GRADERS
from tokbench.results.quality import answer_health, health, health_counts
from tokbench.store.database import Store
from tokbench.suites.loader import load_suite

# Python's `re` takes minutes on these (exponential backtracking on a 32-40 character
# answer); the first is the one from issue 20.
REDOS = ((r"(a+)+b", "a" * 32), (r"(a|aa)+$", "a" * 40 + "b"), (r"^(\w+\s?)*$", "x" * 40 + "!"))

SUITE = """
name = "redos"
[[items]]
id = "q"
prompt = "Say a."
max_tokens = 64
[items.grade]
extract = "regex"
pattern = '{pattern}'
score = "exact"
expected = "b"
"""


@pytest.mark.parametrize(("pattern", "answer"), REDOS)
def test_a_pathological_pattern_is_cut_off(pattern: str, answer: str) -> None:
    spec = GradeSpec(extract="regex", pattern=pattern, score="exact", expected="b")
    t0 = time.perf_counter()
    g = grade_answer(None, answer, "ok", None, spec)
    elapsed = time.perf_counter() - t0
    assert elapsed < 20 * REGEX_TIMEOUT_S  # loose: a hang is minutes
    # Either the engine decides it quickly or the deadline does, in one sentence.
    assert g.verdict == "fail" or (g.verdict == "error" and "grading timed out" in g.reason)
    assert "\n" not in g.reason and "Traceback" not in g.reason


def test_a_timed_out_answer_is_an_error_and_the_run_goes_on(tb_home: Path, tmp_path: Path) -> None:
    suite = tmp_path / "redos.toml"
    suite.write_text(SUITE.format(pattern=r"(a|aa)+c"))
    db = tmp_path / "r.db"
    with FakeServer(FakeConfig(n_tokens=41, token="a")) as srv:
        r = tokbench("run", "--url", srv.url, "--suite", str(suite), "-n", "2", "--json",
                     "--db", str(db), timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    run_id = json.loads(r.stdout)["run"]["id"]
    grades = [q.grade for q in Store(db).requests(run_id)]
    assert len(grades) == 2
    # 41 a's and no c: the pattern backtracks exponentially on every answer
    assert all(g and g.verdict == "error" and "timed out" in g.reason for g in grades)


@pytest.mark.parametrize(
    ("grade", "why"),
    [
        ("extract = \"regex\"\npattern = '(unclosed'", "not a regular expression"),
        ('extract = "regex"', "needs pattern"),
        ('extract = "json_field"', "needs field"),
    ],
)
def test_a_broken_pattern_is_refused_when_the_suite_loads(
    tmp_path: Path, grade: str, why: str
) -> None:
    suite = tmp_path / "bad.toml"
    suite.write_text(f'[[items]]\nid = "q"\nprompt = "p"\n[items.grade]\n{grade}\n')
    with pytest.raises(TokbenchError, match=why):
        load_suite(str(suite))


def _rec(answer: str, prompt: str = "今天星期几？请回答。") -> RequestRecord:
    return RequestRecord("r", "i", 0, "t", "ok", None, prompt, answer, "", None)


def test_a_huge_answer_is_graded_on_its_verdict_window() -> None:
    noise = "嗯，让我再想一想这个问题。" * 400_000  # ~5 M characters of rambling
    assert len(noise) > 5_000_000
    t0 = time.perf_counter()
    grades = {name: fn(noise + "\n答案是 D。今天是星期四。9.9 比 9.11 大。") for name, fn in
              GRADERS.items()}  # fmt: skip
    flags = health(_rec(noise))
    elapsed = time.perf_counter() - t0
    # Linear in a fixed window, not in the answer: seconds would mean the whole was read
    # (the bench script bench/grade_big.py prints the time for 50 MB).
    assert elapsed < 5, elapsed
    # The verdicts at the end are still found ...
    assert grades["seed5.physics-choice"].verdict == "pass"
    assert grades["seed5.weekday"].verdict == "pass"
    assert grades["seed5.compare-decimals"].verdict == "pass"
    # ... the form graders fail it, saying what they counted
    essay = grades["seed5.essay"]
    assert essay.verdict == "fail" and "first 32,768 characters" in essay.reason
    assert int((essay.extracted or "0").split("/")[0]) > 20_000  # counted, not taken as a title
    assert grades["seed5.quatrain"].verdict == "fail"
    assert flags == ("repetition",)  # the same sentence over and over
    assert seed5.extract_choice("A" * 3_000_000 + " answer: B")[0] == "B"


def test_a_length_range_past_the_window_is_not_guessed() -> None:
    spec = GradeSpec(score="length_range", min=1, max=10_000_000, unit="chars")
    g = run_pipeline(spec, "x" * 100_000)
    assert g.verdict == "error" and "too long to count" in g.reason
    spec = GradeSpec(score="length_range", min=1, max=100, unit="chars")
    assert run_pipeline(spec, "x" * 100_000).verdict == "fail"  # at least 32,768: too long


def test_health_is_stored_once_and_read_back(tb_home: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with FakeServer(FakeConfig(n_tokens=30, token="la ")) as srv:
        r = tokbench("run", "--url", srv.url, "--suite", "seed5-en", "--json", "--db", str(db))
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run"]["id"]
    recs = Store(db).requests(run_id)
    assert recs and all(q.health == ("repetition",) for q in recs)  # "la la la ..."
    assert health_counts(recs)["repetition"] == len(recs)
    # an answer stored before migration m008 has none: computed when read
    old = _rec("今天是星期四。因为昨天是星期三，下了雨，所以今天是星期四。", "What day is it?")
    assert old.health is None and answer_health(old) == ("language_switch",)
