"""Graders for the seed article's five questions (seed5 and seed5-en).

Each grades only the answer (never the thinking) and takes the *last* verdict the
answer states, because answers reason aloud first ("9.11 looks bigger? No...").
Rules and pitfalls: ../shared/research/quality_anchors.md, section 5.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tokbench.core.records import Grade
from tokbench.grade.text import WINDOW_CHARS, normalize, opening, verdict_tail

# ---------------------------------------------------------------------------- weekday
_WD_ZH = {
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "日": 7,
    "天": 7,
    "末": 0,
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,
    "5": 5,
    "6": 6,
    "7": 7,
}
_WD_EN = {
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
    "sunday": 7,
}
_WD_ZH_RE = r"(?:星期|周|礼拜)\s*([一二三四五六日天1-7])"
_WD_EN_RE = r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
_TODAY = re.compile(
    r"今天\s*(?:应该|应当|就|则|便|当然|一定)?\s*(?:是|为|:)\s*"
    + _WD_ZH_RE
    + r"|today\s+(?:is|would\s+be|must\s+be|should\s+be)\s+(?:a\s+)?"
    + _WD_EN_RE,
    re.IGNORECASE,
)
_ANY_WD = re.compile(_WD_ZH_RE + "|" + _WD_EN_RE, re.IGNORECASE)
_NAMES = {
    1: "Monday",
    2: "Tuesday",
    3: "Wednesday",
    4: "Thursday",
    5: "Friday",
    6: "Saturday",
    7: "Sunday",
}


def _day(m: re.Match[str]) -> int:
    zh, en = m.group(1), m.group(2)
    return _WD_ZH[zh] if zh else _WD_EN[en.lower()]


def extract_weekday(answer: str) -> tuple[int | None, str]:
    """(day 1-7 or None, how it was found); a hedge between two days gives None."""
    t = normalize(verdict_tail(answer))
    stated = list(_TODAY.finditer(t))
    if stated:
        last = stated[-1]
        day = _day(last)
        # "today is Thursday or Friday": a hedge is not an answer
        tail = t[last.end() : last.end() + 12]
        other = _ANY_WD.search(tail)
        if other and re.match(r"\s*(或|或者|还是|or)\s*", tail) and _day(other) != day:
            return None, f"hedged between {_NAMES[day]} and {_NAMES[_day(other)]}"
        how = "the last 'today is ...' statement"
    else:
        # No "today is ...": the last weekday mentioned in a statement, skipping questions
        # and restatements of the premise (an echoed forecast is not an answer).
        sentences = re.findall(r"[^。！？!?\n]+[。！？!?\n]?", t)
        statements = [
            x
            for x in sentences
            if not x.rstrip().endswith(("?", "？"))
            and "预报" not in x
            and "forecast" not in x.lower()
        ]
        mentions = [m for x in statements for m in _ANY_WD.finditer(x)]
        if not mentions:
            return None, "no weekday stated as the answer"
        day = _day(mentions[-1])
        how = "the last weekday stated"
    return day, how


def weekday_name(day: int) -> str:
    return _NAMES[day]


def weekday(answer: str, expected: int = 4) -> Grade:
    day, how = extract_weekday(answer)
    if day is None:
        if how.startswith("hedged between "):
            return Grade("fail", how.removeprefix("hedged between ").replace(" and ", "/"), how)
        return Grade("fail", None, how)
    ok = day == expected
    return Grade(
        "pass" if ok else "fail",
        _NAMES[day],
        f"{how} is {_NAMES[day]}" + ("" if ok else f"; the answer is {_NAMES[expected]}"),
    )


# ----------------------------------------------------------------- 9.11 versus 9.9
# Verdict patterns over two numbers; N stands for either, _big/_other name the larger.
_N = "(NUM)"
_VERDICTS: list[tuple[str, Callable[[re.Match[str]], str]]] = []


def _verdict(pattern: str, pick: Callable[[re.Match[str]], str]) -> None:
    _VERDICTS.append((pattern, pick))


def _big(a: str) -> str:
    return a  # the number the verdict calls larger


def _other(a: str) -> str:
    return "OTHER:" + a  # the other number is larger


_verdict(_N + r"\s*>\s*" + _N, lambda m: _big(m.group(1)))
_verdict(_N + r"\s*<\s*" + _N, lambda m: _big(m.group(2)))
_verdict(_N + r"\s*(?:大于|要大于|更大于)\s*" + _N, lambda m: _big(m.group(1)))
_verdict(_N + r"\s*(?:小于|要小于)\s*" + _N, lambda m: _big(m.group(2)))
_verdict(_N + r"\s*比\s*" + _N + r"\s*(?:还|更|要)?\s*大", lambda m: _big(m.group(1)))
_verdict(_N + r"\s*比\s*" + _N + r"\s*(?:还|更|要)?\s*小", lambda m: _big(m.group(2)))
_verdict(
    _N + r"\s*(?:更大|较大|大一些|最大|is\s+(?:the\s+)?(?:larger|greater|bigger))",
    lambda m: _big(m.group(1)),
)
_verdict(
    _N + r"\s*(?:更小|较小|小一些|is\s+(?:the\s+)?(?:smaller|less))", lambda m: _other(m.group(1))
)
_verdict(r"(?:larger|greater|bigger)\s+(?:number\s+)?is\s+" + _N, lambda m: _big(m.group(1)))
_verdict(r"(?:较大|更大)的(?:数|数字)?(?:是|为)\s*" + _N, lambda m: _big(m.group(1)))


def _canon(num: str, a: str, b: str) -> str:
    """Map a matched spelling (9.90 for 9.9) back to the question's number."""
    return a if float(num) == float(a) else b


def extract_larger(answer: str, a: str, b: str) -> str | None:
    """Which of a and b the answer's last comparison verdict calls the larger."""
    t = normalize(verdict_tail(answer))
    spelled = "|".join(re.escape(x) + "0*" for x in sorted({a, b}, key=len, reverse=True))
    found: list[tuple[int, str]] = []
    for pattern, pick in _VERDICTS:
        rx = re.compile(pattern.replace("(NUM)", rf"({spelled})(?!\d)"), re.IGNORECASE)
        for m in rx.finditer(t):
            said = pick(m)
            if said.startswith("OTHER:"):
                named = _canon(said.removeprefix("OTHER:"), a, b)
                said = b if named == a else a
            else:
                said = _canon(said, a, b)
            found.append((m.start(), said))
    return max(found)[1] if found else None


def compare_decimals(answer: str, a: str = "9.11", b: str = "9.9") -> Grade:
    larger = extract_larger(answer, a, b)
    if larger is None:
        return Grade("fail", None, "no comparison verdict found in the answer")
    truth = a if float(a) > float(b) else b
    ok = larger == truth
    return Grade(
        "pass" if ok else "fail",
        larger,
        f"the last verdict says {larger} is larger" + ("" if ok else f"; {truth} is"),
    )


# --------------------------------------------------------------------- physics MCQ
_CHOICE_PATTERNS = [
    r"答案\s*(?:是|为|选|应选|应为)?\s*[:]?\s*\(?\s*([A-J])\b",
    r"(?:错误|不正确|不对)的?(?:说法|选项|是|一项)?\s*(?:是|为|:)?\s*(?:选项)?\s*\(?\s*([A-J])\b",
    r"选\s*(?:择)?\s*(?:项)?\s*\(?\s*([A-J])\b",
    r"answer\s*(?:is|:)\s*(?:option\s*)?\(?\s*([A-J])\b",
    r"\(?\b([A-J])\)?\s*(?:is|would be)\s+(?:the\s+)?(?:wrong|incorrect|false)",
    r"(?:wrong|incorrect|false)\s+(?:statement|one|option)\s+is\s*(?:option\s*)?\(?\s*([A-J])\b",
    r"\b([A-J])\s*(?:项)?\s*(?:是)?\s*错误",
]
_CHOICES = [re.compile(p, re.IGNORECASE) for p in _CHOICE_PATTERNS]
_LONE = re.compile(r"^\W*([A-J])\W*$")  # a final line that is just the letter


def extract_choice(answer: str) -> tuple[str | None, str]:
    """(letter A-D or None, how it was found): the last stated choice."""
    t = normalize(verdict_tail(answer))
    found = [(m.start(), m.group(1).upper()) for p in _CHOICES for m in p.finditer(t)]
    how = "the last stated choice"
    if not found:
        lines = [ln for ln in t.splitlines() if ln.strip()]
        lone = _LONE.match(lines[-1]) if lines else None
        if not lone:
            return None, "no choice (A-D) stated in the answer"
        found = [(0, lone.group(1))]
        how = "the letter alone on the last line"
    return max(found)[1], how


def physics_choice(answer: str, expected: str = "D") -> Grade:
    letter, how = extract_choice(answer)
    if letter is None:
        return Grade("fail", None, how)
    ok = letter == expected
    return Grade(
        "pass" if ok else "fail",
        letter,
        f"{how} is {letter}" + ("" if ok else f"; the answer is {expected}"),
    )


# --------------------------------------------------------------------------- essay
_HAN = re.compile(r"[\u4e00-\u9fff]")
_CJK_PUNCT = re.compile(r"[，。！？；：、“”‘’（）《》…—,.!?;:]")
_TITLE = re.compile(r"^\s*(?:#+\s*)?(?:题目[:：]?\s*)?《[^》]{1,30}》\s*$|^\s*#+\s*\S.{0,30}$")


def _essay_body(answer: str) -> str:
    lines = [ln for ln in answer.strip().splitlines() if ln.strip()]
    first = lines[0].strip() if lines else ""
    # a title is short: ten words (and no paragraph of unspaced Chinese, one "word")
    short = len(first) <= 20 or (len(first.split()) <= 10 and len(first) <= 80)
    if lines and (_TITLE.match(first) or (short and not re.search(r"[。！？.!?]$", first))):
        lines = lines[1:]  # the completed title does not count towards 450
    body = "\n".join(lines)
    return re.sub(r"[（(]\s*(?:全文)?约?\s*\d+\s*字\s*[)）]", "", body)  # "(全文约450字)"


def essay_length(
    answer: str, target: int = 450, tolerance: float = 0.10, *, english: bool = False
) -> Grade:
    # Counted in the opening only: past it the answer is far too long whatever the count
    # (the counts are then lower bounds, and the reason says so).
    body = _essay_body(opening(answer))
    cut = f", in its first {WINDOW_CHARS:,} characters" if len(answer) > WINDOW_CHARS else ""
    lo, hi = target * (1 - tolerance), target * (1 + tolerance)
    if english:
        words = len(re.findall(r"[A-Za-z][A-Za-z'’-]*", body))
        ok = lo <= words <= hi
        return Grade(
            "pass" if ok else "fail",
            str(words),
            f"{words} words{cut} (target {target} ± {tolerance:.0%})",
        )
    han = len(_HAN.findall(body))
    with_punct = han + len(_CJK_PUNCT.findall(body))
    ok = lo <= han <= hi or lo <= with_punct <= hi
    return Grade(
        "pass" if ok else "fail",
        f"{han}/{with_punct}",
        f"{han} Han characters, {with_punct} with punctuation{cut} "
        f"(target {target} ± {tolerance:.0%})",
    )


# ------------------------------------------------------------------------ quatrain
_AUTUMN = (
    "秋",
    "霜",
    "雁",
    "落叶",
    "叶落",
    "菊",
    "枫",
    "西风",
    "金风",
    "寒",
    "凉",
    "萧",
    "黄叶",
    "残荷",
    "蝉",
    "露",
    "归鸿",
    "木落",
    "凋",
)
_SPLIT = re.compile(r"[，。！？；、,.!?;\n]+")


def _finals(ch: str) -> set[str]:
    """The rhyme classes of every reading of a character (还 is huan in verse, hai in
    speech), so a polyphone never breaks a real rhyme."""
    from pypinyin import Style, pinyin

    classes = {
        ("ian", "an"),
        ("uan", "an"),
        ("van", "an"),
        ("iang", "ang"),
        ("uang", "ang"),
        ("ing", "eng"),
        ("ong", "eng"),
        ("iong", "eng"),
        ("ui", "ei"),
        ("uei", "ei"),
        ("iu", "ou"),
        ("iou", "ou"),
        ("ie", "e"),
        ("ve", "e"),
        ("uo", "o"),
        ("un", "en"),
        ("in", "en"),
        ("vn", "en"),
        ("ia", "a"),
        ("ua", "a"),
    }
    mapping = dict(classes)
    readings = pinyin(ch, style=Style.FINALS, heteronym=True)[0]
    return {mapping.get(f, f) for f in readings}


def _rhymes(a: str, b: str) -> bool:
    return bool(_finals(a) & _finals(b))


def quatrain(answer: str) -> Grade:
    t = normalize(opening(answer))
    segments = [re.sub(r"[^\u4e00-\u9fff]", "", s) for s in _SPLIT.split(t)]
    segments = [s for s in segments if s]
    for i in range(len(segments) - 3):
        poem = segments[i : i + 4]
        if all(len(v) == 5 for v in poem):
            break
    else:
        seven = any(len(s) == 7 for s in segments)
        return Grade(
            "fail",
            None,
            "no four consecutive five-character lines"
            + (" (seven-character lines found: not a five-character quatrain)" if seven else ""),
        )
    text = "".join(poem)
    problems = []
    if not any(w in text for w in _AUTUMN):
        problems.append("no autumn imagery in the poem")
    if not _rhymes(poem[1][-1], poem[3][-1]):
        problems.append(f"lines 2 and 4 do not rhyme ({poem[1][-1]}, {poem[3][-1]})")
    after = t[t.find(poem[3][-1], t.find(poem[3])) + 1 :] if poem[3] in t else ""
    if len(_HAN.findall(after)) < 30:
        problems.append("no analysis after the poem")
    return Grade(
        "fail" if problems else "pass",
        "/".join(poem),
        "; ".join(problems)
        or "four five-character lines, autumn imagery, lines 2 and 4 rhyme, analysis follows",
    )


def poem_form(answer: str, lines: int = 4, chars: int = 5, rhyme: bool = True) -> Grade:
    """Just the form: `lines` consecutive verses of `chars` Han characters (and, for
    quatrains, lines 2 and 4 rhyming)."""
    t = normalize(opening(answer))
    segments = [s for s in (re.sub(r"[^\u4e00-\u9fff]", "", x) for x in _SPLIT.split(t)) if s]
    for i in range(len(segments) - lines + 1):
        poem = segments[i : i + lines]
        if all(len(v) == chars for v in poem):
            if rhyme and lines >= 4 and not _rhymes(poem[1][-1], poem[3][-1]):
                continue
            return Grade(
                "pass",
                "/".join(poem),
                f"{lines} lines of {chars} characters"
                + (", lines 2 and 4 rhyme" if rhyme and lines >= 4 else ""),
            )
    return Grade(
        "fail",
        None,
        f"no {lines} consecutive lines of {chars} characters"
        + (" with lines 2 and 4 rhyming" if rhyme and lines >= 4 else ""),
    )


GRADERS: dict[str, Callable[[str], Grade]] = {
    "essay": essay_length,
    "compare-9.11-9.9": compare_decimals,
    "autumn-quatrain": quatrain,
    "weekday": weekday,
    "physics-mcq": physics_choice,
}
