"""Read the benchmarks' own file formats, so a full set given by path works as it is
distributed:

- GSM8K JSONL (`openai/grade-school-math`): {"question": ..., "answer": "...#### 72"} a line;
  the answer's lines before `####` are the solution's steps (the stratum).
- MMLU CSV (`hendrycks/test`, data.tar): no header; question, A, B, C, D, answer letter;
  one file per subject named `<subject>_test.csv` (`_val`, `_dev` likewise).
- CMMLU CSV (`haonan-li/CMMLU`): header `,Question,A,B,C,D,Answer`; one file per subject.
- C-Eval CSV (`hkust-nlp/ceval`): header `id,question,A,B,C,D,answer,explanation`;
  `<subject>_val.csv` has answers, the test split has none and is refused.
- The Hugging Face export of MMLU (`cais/mmlu` saved as CSV): header
  `question,choice0,choice1,choice2,choice3,answer`, the answer a 0-based index.
- The subsets shipped in the package: JSONL, one item a line in asking order, `row` its
  0-based row in the upstream subject file (see data/SOURCE.md).

A folder is read whole (its `test/` subfolder when it has one). Every problem is one
sentence naming the file and line."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.evals.items import EvalItem

MAX_FILE_BYTES = 64 * 2**20  # the full MMLU is 7 MB in 57 files; anything this big is not a set
LETTERS = "ABCD"
_SPLIT = re.compile(r"_(test|val|dev)$")
_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise TokbenchError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MB: not a test set")
        return path.read_text("utf-8-sig")
    except OSError as exc:
        raise TokbenchError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise TokbenchError(f"{path}: not UTF-8 text") from None


def gsm8k_steps(solution: str) -> str:
    """The stratum of a GSM8K problem: how many steps its reference solution takes."""
    body = solution.split("####")[0]
    steps = sum(1 for line in body.splitlines() if line.strip())
    return f"steps{min(max(steps, 1), 6)}" + ("+" if steps >= 6 else "")


def read_gsm8k(path: Path, benchmark: str = "gsm8k") -> list[EvalItem]:
    items = []
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            raise TokbenchError(f"{where}: not a JSON object") from None
        if not isinstance(obj, dict):
            raise TokbenchError(f"{where}: not a JSON object")
        q, a = obj.get("question"), obj.get("answer")
        if not isinstance(q, str) or not q.strip() or not isinstance(a, str):
            raise TokbenchError(f"{where}: needs 'question' and 'answer' strings (GSM8K JSONL)")
        m = _ANSWER.search(a)
        if not m:
            raise TokbenchError(f"{where}: the answer has no '#### N' final line (GSM8K JSONL)")
        row = obj.get("row", n - 1)
        subject = str(obj.get("subject") or gsm8k_steps(a))
        items.append(
            EvalItem(f"{benchmark}/{subject}/{row}", benchmark, subject, q.strip(), (), m.group(1))
        )
    if not items:
        raise TokbenchError(f"{path}: no items")
    return items


def _choice_row(
    row: list[str], where: str, index: bool = False
) -> tuple[str, tuple[str, ...], str]:
    if len(row) < 6:
        raise TokbenchError(f"{where}: {len(row)} columns; a question, 4 choices and the answer")
    question, *choices = row[:5]
    answer = row[5].strip().upper()
    if index and answer in ("0", "1", "2", "3"):
        answer = LETTERS[int(answer)]
    if answer not in LETTERS:
        raise TokbenchError(f"{where}: the answer {row[5][:20]!r} is not A, B, C or D")
    if not question.strip():
        raise TokbenchError(f"{where}: the question is empty")
    return question.strip(), tuple(c.strip() for c in choices), answer


def read_choice_csv(path: Path, benchmark: str) -> list[EvalItem]:
    """One subject's CSV in MMLU, CMMLU or C-Eval layout (told apart by the header)."""
    try:  # quoted fields may hold line breaks: the reader sees the text whole
        rows = list(csv.reader(io.StringIO(_read_text(path), newline="")))
    except csv.Error as exc:
        raise TokbenchError(f"{path}: not a CSV file ({exc})") from None
    subject = _SPLIT.sub("", path.stem)
    head = [c.strip().lower() for c in rows[0]] if rows else []
    index = head[:6] == ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
    if index:
        start, cols = 1, slice(0, 6)  # the Hugging Face export
    elif head[:7] == ["id", "question", "a", "b", "c", "d", "answer"]:
        start, cols = 1, slice(1, 7)  # C-Eval
    elif head[1:7] == ["question", "a", "b", "c", "d", "answer"]:
        start, cols = 1, slice(1, 7)  # CMMLU
    elif head[:6] == ["id", "question", "a", "b", "c", "d"] or head[1:6] == [
        "question",
        "a",
        "b",
        "c",
        "d",
    ]:
        raise TokbenchError(f"{path}: has no answer column (C-Eval's test split?): use val")
    else:
        start, cols = 0, slice(0, 6)  # MMLU: no header
    items = []
    for n, row in enumerate(rows[start:], start + 1):
        if not any(c.strip() for c in row):
            continue
        q, choices, answer = _choice_row(row[cols], f"{path}, row {n}", index)
        i = n - start - 1
        items.append(EvalItem(f"{benchmark}/{subject}/{i}", benchmark, subject, q, choices, answer))
    if not items:
        raise TokbenchError(f"{path}: no items")
    return items


def read_path(path: Path, benchmark: str) -> list[EvalItem]:
    """A benchmark's items from a file or a folder of its files."""
    if not path.exists():
        raise TokbenchError(f"{path}: no such file or folder")
    if path.is_dir():
        folder = path / "test" if (path / "test").is_dir() else path
        files = sorted(folder.glob("*.jsonl")) + sorted(folder.glob("*.csv"))
        if not files:
            raise TokbenchError(f"{folder}: no .csv or .jsonl files")
    else:
        files = [path]
    items: list[EvalItem] = []
    for f in files:
        items += read_gsm8k(f, benchmark) if f.suffix == ".jsonl" else read_choice_csv(f, benchmark)
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise TokbenchError(f"{path}: two files give the same subject")
    return items


def read_shipped(path: Path, benchmark: str) -> list[EvalItem]:
    """A shipped subset: {"row", "subject", "question", "answer", "choices"?} a line."""
    items = []
    for line in _read_text(path).splitlines():
        if line.strip():
            o = json.loads(line)
            items.append(
                EvalItem(
                    f"{benchmark}/{o['subject']}/{o['row']}",
                    benchmark,
                    o["subject"],
                    o["question"],
                    tuple(o.get("choices") or ()),
                    o["answer"],
                )
            )
    return items
