"""The benchmark readers on small files in each upstream layout (rows written here, in the
shapes of the real files: GSM8K JSONL, headerless MMLU CSV, CMMLU and C-Eval CSV)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokbench.errors import TokbenchError
from tokbench.evals.data_files import shipped_items
from tokbench.evals.formats import read_path
from tokbench.evals.items import prefix_fair_order


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_gsm8k_jsonl(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "test.jsonl",
        '{"question": "Tom has 3 apples and buys 4. How many?", '
        '"answer": "3 + 4 = <<3+4=7>>7\\n#### 7"}\n\n'
        '{"question": "A shirt costs $1,200 less $200.", '
        '"answer": "a\\nb\\nc\\n#### 1,000"}\n',
    )
    items = read_path(f, "gsm8k")
    assert [(i.id, i.answer, i.kind) for i in items] == [
        ("gsm8k/steps1/0", "7", "number"),
        ("gsm8k/steps3/2", "1,000", "number"),
    ]


def test_mmlu_folder_reads_test_subfolder(tmp_path: Path) -> None:
    _write(
        tmp_path / "data/test/anatomy_test.csv", '"What is ""x"", here?",a,b,c,d,C\nQ2,1,2,3,4,a\n'
    )
    _write(tmp_path / "data/dev/anatomy_dev.csv", "dev,a,b,c,d,A\n")
    items = read_path(tmp_path / "data", "mmlu")
    assert [(i.id, i.subject, i.answer) for i in items] == [
        ("mmlu/anatomy/0", "anatomy", "C"),
        ("mmlu/anatomy/1", "anatomy", "A"),
    ]
    assert items[0].question == 'What is "x", here?'
    assert items[0].choices == ("a", "b", "c", "d")


def test_cmmlu_and_ceval_headers(tmp_path: Path) -> None:
    cm = _write(tmp_path / "agronomy.csv", ",Question,A,B,C,D,Answer\n0,问题一,甲,乙,丙,丁,B\n")
    ce = _write(
        tmp_path / "computer_network_val.csv",
        "id,question,A,B,C,D,answer,explanation\n0,题目____,1,2,3,4,C,\n",
    )
    assert [(i.id, i.answer) for i in read_path(cm, "cmmlu")] == [("cmmlu/agronomy/0", "B")]
    got = read_path(ce, "ceval")
    assert [(i.id, i.subject, i.choices) for i in got] == [
        ("ceval/computer_network/0", "computer_network", ("1", "2", "3", "4"))
    ]


def test_hugging_face_export_and_quoted_line_breaks(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "anatomy_test.csv",
        'question,choice0,choice1,choice2,choice3,answer\n"Two\nlines?",a,b,c,d,2\n',
    )
    (item,) = read_path(f, "mmlu")
    assert (item.question, item.answer) == ("Two\nlines?", "C")


def test_shipped_mmlu_is_stratified() -> None:
    items = shipped_items("mmlu")
    assert len(items) == 200 and all(i.kind == "choice" and len(i.choices) == 4 for i in items)
    subjects = {i.subject for i in items}
    assert len(subjects) == 57
    # professional_law is 1,534 of 14,042: about 11 % of any prefix
    law = sum(1 for i in items[:100] if i.subject == "professional_law")
    assert abs(law - 100 * 1534 / 14042) < 1.5


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("x.jsonl", '{"question": "q", "answer": "no final"}\n', "no '#### N'"),
        ("x.jsonl", "[1]\n", "not a JSON object"),
        ("x_test.csv", "q,a,b,c,d,E\n", "not A, B, C or D"),
        ("x_test.csv", "q,a,b\n", "3 columns"),
        ("c_test.csv", "id,question,A,B,C,D\n0,q,1,2,3,4\n", "no answer column"),
        ("x_test.csv", "", "no items"),
    ],
)
def test_bad_files_one_sentence(tmp_path: Path, name: str, text: str, says: str) -> None:
    with pytest.raises(TokbenchError, match=says):
        read_path(_write(tmp_path / name, text), "b")


def test_shipped_gsm8k_is_the_fair_order_prefix() -> None:
    items = shipped_items("gsm8k")
    assert len(items) == 100
    assert len({i.id for i in items}) == 100
    # the file is already in the prefix-fair order of its own strata's sizes: reordering the
    # subset keeps every stratum's share within one item of proportional at each prefix
    counts: dict[str, int] = {}
    for n, it in enumerate(items, 1):
        counts[it.subject] = counts.get(it.subject, 0) + 1
        assert all(abs(c - n * _share(s)) < 1.5 for s, c in counts.items())
    assert prefix_fair_order(items)  # deterministic and total


def _share(stratum: str) -> float:
    full = {"steps2": 326, "steps3": 371, "steps4": 297, "steps5": 175, "steps6+": 150}
    return full.get(stratum, 0) / 1319
