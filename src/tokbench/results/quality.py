"""Answer health (the ways low-bit quants fail) and paired comparison against a reference."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from tokbench.core.records import Grade, RequestRecord
from tokbench.core.stats import mcnemar_exact
from tokbench.grade.text import opening, verdict_tail

_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
HEALTH_FLAGS = ("repetition", "length_limit", "empty", "language_switch")


def _han_share(text: str, min_chars: int) -> float | None:
    han, latin = len(_HAN.findall(text)), len(_LATIN.findall(text))
    return han / (han + latin) if han + latin >= min_chars else None


def repetition(text: str) -> bool:
    """A loop: the same line three times in a row, or the output's tail being one short
    piece repeated at least four times. Looked for at the end (a loop runs to the token
    limit), in a bounded window however long the text."""
    text = verdict_tail(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any(a == b == c for a, b, c in zip(lines, lines[1:], lines[2:], strict=False)):
        return True
    tail = text[-240:]
    for size in range(2, 41):
        unit = tail[-size:]
        if unit.strip() and tail.endswith(unit * 4):
            return True
    return False


def health(r: RequestRecord) -> tuple[str, ...]:
    """Which failure signs this answer shows (empty tuple: healthy). Bounded work per
    answer: each sign is read from a window of the text (`grade.text.WINDOW_CHARS`)."""
    flags = []
    text = r.answer or ""
    if repetition(text) or repetition(r.thinking or ""):
        flags.append("repetition")
    if r.metrics and r.metrics.finish_reason == "length":
        flags.append("length_limit")
    if r.metrics and r.metrics.answer_state in ("empty", "thinking_truncated"):
        flags.append("empty")
    asked, said = _han_share(opening(r.prompt), 5), _han_share(opening(text), 20)
    if (
        asked is not None
        and said is not None
        and ((asked > 0.3 and said < 0.05) or (asked < 0.05 and said > 0.3))
    ):
        flags.append("language_switch")
    return tuple(flags)


def answer_health(r: RequestRecord) -> tuple[str, ...]:
    """The flags stored with the answer; computed only for answers stored without them."""
    return r.health if r.health is not None else health(r)


def health_counts(recs: list[RequestRecord]) -> dict[str, int]:
    c: Counter[str] = Counter(f for r in recs if r.status == "ok" for f in answer_health(r))
    return {f: c.get(f, 0) for f in HEALTH_FLAGS}


@dataclass(frozen=True, slots=True)
class Paired:
    """A candidate run against a reference run, answer by answer."""

    n: int  # pairs graded (pass/fail/no_answer) in both
    cand_passed: int
    ref_passed: int
    right_to_wrong: list[str]  # item#rep the reference passed and the candidate did not
    wrong_to_right: list[str]
    diff: float  # candidate pass rate - reference pass rate
    diff_low: float
    diff_high: float
    p_value: float  # exact McNemar
    agreement: float | None  # share of pairs whose extracted answers are equal
    longer_thinking: list[str]  # candidate thought more than twice as long


def paired(cand: list[RequestRecord], ref: list[RequestRecord]) -> Paired:
    by_key = {(r.item_id, r.rep): r for r in ref}
    pairs = [(c, by_key[(c.item_id, c.rep)]) for c in cand if (c.item_id, c.rep) in by_key]
    graded: list[tuple[Grade, Grade, RequestRecord]] = []
    for cr, rr in pairs:
        if cr.grade and rr.grade and "error" not in (cr.grade.verdict, rr.grade.verdict):
            graded.append((cr.grade, rr.grade, cr))
    n = len(graded)
    if n == 0:
        raise ValueError("no item was graded in both runs")
    cp = [cg.verdict == "pass" for cg, _, _ in graded]
    rp = [rg.verdict == "pass" for _, rg, _ in graded]
    label = [f"{cr.item_id}#{cr.rep + 1}" for _, _, cr in graded]
    r2w = [k for k, a, b in zip(label, cp, rp, strict=True) if b and not a]
    w2r = [k for k, a, b in zip(label, cp, rp, strict=True) if a and not b]
    lost, won = len(r2w), len(w2r)
    d = (won - lost) / n
    # Wald interval for a difference of paired proportions
    se = math.sqrt(max((lost + won) - (won - lost) ** 2 / n, 0.0)) / n
    values = [
        (cg.extracted, rg.extracted)
        for cg, rg, _ in graded
        if cg.extracted is not None and rg.extracted is not None
    ]
    agreement = sum(1 for x, y in values if x == y) / len(values) if values else None
    longer = [
        f"{x.item_id}#{x.rep + 1}"
        for x, y in pairs
        if x.metrics
        and y.metrics
        and x.metrics.thinking_tokens
        and y.metrics.thinking_tokens
        and x.metrics.thinking_tokens > 2 * y.metrics.thinking_tokens
    ]
    return Paired(
        n,
        sum(cp),
        sum(rp),
        r2w,
        w2r,
        d,
        d - 1.96 * se,
        d + 1.96 * se,
        mcnemar_exact(lost, won),
        agreement,
        longer,
    )


def items_needed(p1: float, p2: float, alpha_z: float = 1.96, power_z: float = 0.8416) -> int:
    """Independent items per run to tell pass rates p1 and p2 apart (two-sided 5%, 80%
    power, normal approximation): what a difference needs before it means anything."""
    if p1 == p2:
        raise ValueError("the rates must differ")
    pbar = (p1 + p2) / 2
    num = (
        alpha_z * math.sqrt(2 * pbar * (1 - pbar))
        + power_z * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2
    return math.ceil(num / (p1 - p2) ** 2)
