"""Grading pipelines as data: extract -> normalise -> score, declared in suite files.

```toml
[items.grade]
extract = "last_number"          # whole | regex | last_number | choice_letter | weekday
                                 # | larger_of | json_field
score = "numeric"                # exact | contains_any | contains_all | numeric
expected = 42                    # | length_range | poem_form | python | judge
tolerance = 0.5
```
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections import deque
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tokbench.core.records import Grade
from tokbench.errors import TokbenchError
from tokbench.grade import seed5
from tokbench.grade.text import WINDOW_CHARS, normalize, opening, verdict_tail

# A suite's own pattern runs with this deadline per answer: a pattern that backtracks
# exponentially ("(a|aa)+c" on a run of a's) costs half a second, not hours. The `regex`
# module checks the deadline while matching; Python's `re` cannot be interrupted (and
# takes minutes on "(a+)+b" and a 32-character answer, issue 20).
REGEX_TIMEOUT_S = 0.5

Extract = Literal[
    "whole", "regex", "last_number", "choice_letter", "weekday", "larger_of", "json_field"
]
Score = Literal[
    "exact",
    "contains_any",
    "contains_all",
    "numeric",
    "length_range",
    "poem_form",
    "python",
    "judge",
]
Normaliser = Literal["lower", "strip", "no_spaces", "no_punctuation"]


class Judge(BaseModel):
    """Another model grades with a rubric: labelled as judged, never as deterministic."""

    model_config = ConfigDict(extra="forbid")
    url: str
    model: str | None = None
    rubric: str
    api_key_env: str | None = None


class GradeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extract: Extract = "whole"
    pattern: str | None = None  # regex: the last match (group 1 if the pattern has one)
    field: str | None = None  # json_field
    numbers: list[str] | None = None  # larger_of: the two numbers compared
    normalize: list[Normaliser] = Field(default_factory=list)
    score: Score = "exact"
    expected: Any = None
    tolerance: float = 0.0
    min: float | None = None  # length_range
    max: float | None = None
    unit: Literal["han", "words", "chars"] = "han"
    lines: int = 4  # poem_form
    chars: int = 5
    rhyme: bool = True
    function: str | None = None  # python: "package.module:function"
    judge: Judge | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                regex.compile(pattern)
            except (regex.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"not a regular expression ({exc})") from None
        return pattern

    @model_validator(mode="after")
    def _complete(self) -> GradeSpec:
        needs = {"regex": ("pattern", self.pattern), "json_field": ("field", self.field),
                 "larger_of": ("numbers", self.numbers)}  # fmt: skip
        if self.extract in needs and needs[self.extract][1] is None:
            raise ValueError(f'extract = "{self.extract}" needs {needs[self.extract][0]}')
        # found when the suite loads, not as an error on every answer
        if self.extract == "larger_of" and not (
            len(self.numbers or []) == 2 and all(_is_number(n) for n in self.numbers or [])
        ):
            raise ValueError('extract = "larger_of" needs numbers = two decimal numbers as text')
        if self.score == "numeric" and not _is_number(self.expected):
            raise ValueError('score = "numeric" needs a number as expected')
        return self


def _is_number(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class GradingTimeout(TokbenchError):
    """A suite's pattern ran past REGEX_TIMEOUT_S on one answer: that answer's grade is
    an error that says so, and the run goes on."""


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


def _norm(value: str, steps: list[Normaliser]) -> str:
    for step in steps:
        if step == "lower":
            value = value.lower()
        elif step == "strip":
            value = value.strip()
        elif step == "no_spaces":
            value = re.sub(r"\s+", "", value)
        elif step == "no_punctuation":
            value = _PUNCT.sub("", value)
    return value


def extract(spec: GradeSpec, answer: str) -> tuple[str | None, str]:
    """(the value, how it was found); None when nothing could be extracted. Every
    extraction but "whole" takes the last value stated, so it reads the answer's end."""
    if spec.extract == "whole":
        return normalize(answer).strip(), "the whole answer"
    text = normalize(verdict_tail(answer))
    if spec.extract == "regex":
        return _last_match(spec.pattern or "", text)
    if spec.extract == "last_number":
        # superscripts are exponents of units (m/s²), not digits of the answer
        nums = _NUMBER.findall(normalize(re.sub("[⁰¹²³⁴⁵⁶⁷⁸⁹]", "", verdict_tail(answer))))
        return (nums[-1].replace(",", "") if nums else None), "the last number"
    if spec.extract == "choice_letter":
        return seed5.extract_choice(answer)
    if spec.extract == "weekday":
        day, how = seed5.extract_weekday(answer)
        return (seed5.weekday_name(day) if day else None), how
    if spec.extract == "larger_of":
        a, b = (spec.numbers or ["", ""])[:2]
        return seed5.extract_larger(answer, a, b), "the last comparison verdict"
    # json_field: the last JSON object in the answer (fenced or bare)
    for m in reversed(list(re.finditer(r"\{[^{}]*\}", text))):
        try:
            obj = json.loads(m.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict) and spec.field in obj:
            return str(obj[spec.field]), f"JSON field {spec.field!r}"
    return None, f"no JSON object with field {spec.field!r}"


def _last_match(pattern: str, text: str) -> tuple[str | None, str]:
    try:  # the last match, without keeping the others
        last = deque(regex.finditer(pattern, text, timeout=REGEX_TIMEOUT_S), maxlen=1)
    except TimeoutError:
        raise GradingTimeout(
            f"grading timed out: the suite's pattern {pattern!r} ran over "
            f"{REGEX_TIMEOUT_S:g} s on this answer (it backtracks: simplify it)"
        ) from None
    if not last:
        return None, f"pattern {pattern!r} not found"
    m = last[0]
    return (m.group(1) if m.groups() else m.group(0)), "the last match of the pattern"


def _count(text: str, unit: str) -> int:
    if unit == "han":
        return len(re.findall(r"[\u4e00-\u9fff]", text))
    if unit == "words":
        return len(re.findall(r"\w+", text))
    return len(text)


def run_pipeline(spec: GradeSpec, answer: str) -> Grade:
    if spec.score in ("length_range", "poem_form", "python", "judge"):
        return _whole_answer_score(spec, answer)
    value, how = extract(spec, answer)
    if value is None:
        return Grade("fail", None, how)
    got = _norm(value, spec.normalize)
    exp = spec.expected
    if spec.score == "numeric":
        try:
            ok = abs(float(got) - float(exp)) <= spec.tolerance
        except (TypeError, ValueError):
            return Grade("fail", got, f"{how} ({got!r}) is not a number")
        return Grade(
            "pass" if ok else "fail", got, f"{how} is {got}; expected {exp} ± {spec.tolerance:g}"
        )
    if spec.score == "exact":
        want = _norm(str(exp), spec.normalize)
        return Grade("pass" if got == want else "fail", got, f"{how} is {got!r}; expected {want!r}")
    wanted = [_norm(str(e), spec.normalize) for e in (exp if isinstance(exp, list) else [exp])]
    hits = [w for w in wanted if w in got]
    ok = bool(hits) if spec.score == "contains_any" else len(hits) == len(wanted)
    return Grade(
        "pass" if ok else "fail",
        ", ".join(hits) or None,
        f"{len(hits)} of {len(wanted)} expected phrases found ({spec.score})",
    )


def _whole_answer_score(spec: GradeSpec, answer: str) -> Grade:
    if spec.score == "length_range":
        # counted in the opening: past it the count is a lower bound, and says so
        n = _count(normalize(opening(answer)), spec.unit)
        lo = spec.min if spec.min is not None else float("-inf")
        hi = spec.max if spec.max is not None else float("inf")
        if len(answer) > WINDOW_CHARS:
            why = f"{n} {spec.unit} in the first {WINDOW_CHARS:,} characters"
            if n > hi:
                return Grade("fail", str(n), f"at least {why}; wanted {lo:g}-{hi:g}")
            return Grade("error", None, f"too long to count: {why}, and more after them")
        ok = lo <= n <= hi
        return Grade("pass" if ok else "fail", str(n), f"{n} {spec.unit}; wanted {lo:g}-{hi:g}")
    if spec.score == "poem_form":
        return seed5.poem_form(answer, spec.lines, spec.chars, spec.rhyme)
    if spec.score == "python":
        return _call(spec.function or "", answer)
    raise ValueError("judge scores are run by tokbench.grade.judge")


def _call(path: str, answer: str) -> Grade:
    module, _, name = path.replace(":", ".").rpartition(".")
    fn = getattr(importlib.import_module(module), name)
    result = fn(answer)
    if isinstance(result, Grade):
        return result
    return Grade("pass" if result else "fail", None, f"{path} returned {result!r}")
