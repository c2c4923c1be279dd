from pathlib import Path

import pytest

from tokbench.errors import TokbenchError
from tokbench.suites.loader import load_suite


def test_seed5_is_verbatim_chinese_with_short_ids() -> None:
    s = load_suite("seed5")
    assert [i.id for i in s.items] == [
        "essay",
        "compare-9.11-9.9",
        "autumn-quatrain",
        "weekday",
        "physics-mcq",
    ]
    prompts = {i.id: i.prompt for i in s.items}
    assert prompts["weekday"] == "天气预报说本周星期三会下雨，昨天果然下雨了，今天星期几?"
    assert prompts["compare-9.11-9.9"] == "比较以下两个数的大小：9.11 和 9.9，并解释比较逻辑。"
    assert "D.声音在空气中的传播速度为 1000m/s。" in prompts["physics-mcq"]
    assert "450 字" in prompts["essay"]


def test_seed5_en_has_the_same_items() -> None:
    zh, en = load_suite("seed5"), load_suite("seed5-en")
    assert [i.id for i in zh.items] == [i.id for i in en.items]
    assert "Wednesday" in en.items[3].prompt


def test_user_suite_layers_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        'system = "Be brief."\nmax_tokens = 64\ntemperature = 0.2\n\n'
        '[[items]]\nid = "a"\nprompt = "Hi"\n\n'
        '[[items]]\nid = "b"\nprompt = "Yo"\nmax_tokens = 8\nsystem = "Shout."\n',
        "utf-8",
    )
    s = load_suite(str(f))
    a, b = s.items
    assert s.name == "mine"
    assert (a.max_tokens, a.system, a.sampling.temperature) == (64, "Be brief.", 0.2)
    assert (b.max_tokens, b.system) == (8, "Shout.")
    assert a.request().messages == (("system", "Be brief."), ("user", "Hi"))
    s2 = load_suite(str(f), {"max_tokens": 5, "temperature": None})
    assert [i.max_tokens for i in s2.items] == [5, 5]
    assert s2.items[0].sampling.temperature == 0.2


def test_bad_field_names_file_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(
        '[[items]]\nid = "a"\nprompt = "x"\n\n[[items]]\nid = "b"\nprompt = "y"\nmax_tokens = -3\n',
        "utf-8",
    )
    with pytest.raises(TokbenchError) as e:
        load_suite(str(f))
    msg = str(e.value)
    assert str(f) in msg and "line 8" in msg and "items.1.max_tokens" in msg


def test_unknown_field_and_missing_prompt(tmp_path: Path) -> None:
    f = tmp_path / "typo.toml"
    f.write_text('[[items]]\nid = "a"\nprompt = "x"\ntemprature = 1\n', "utf-8")
    with pytest.raises(TokbenchError, match=r"line 4, field 'items.0.temprature'"):
        load_suite(str(f))
    g = tmp_path / "missing.toml"
    g.write_text('max_tokens = 5\n[[items]]\nid = "a"\n', "utf-8")
    with pytest.raises(TokbenchError, match=r"line 2, field 'items.0.prompt'"):
        load_suite(str(g))


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "broken.toml"
    f.write_text('[[items]]\nid = "a\n', "utf-8")
    with pytest.raises(TokbenchError, match=r"broken.toml: invalid TOML: .*line 2"):
        load_suite(str(f))
    with pytest.raises(TokbenchError, match="no suite named"):
        load_suite(str(tmp_path / "nope.toml"))


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    f = tmp_path / "dup.toml"
    f.write_text('[[items]]\nid = "a"\nprompt = "x"\n[[items]]\nid = "a"\nprompt = "y"\n')
    with pytest.raises(TokbenchError, match="appears twice"):
        load_suite(str(f))


def test_a_suite_file_is_read_within_a_bound(tmp_path: Path) -> None:
    import os

    from tokbench.suites.loader import MAX_SUITE_BYTES

    big = tmp_path / "big.toml"
    with big.open("wb") as f:
        f.truncate(MAX_SUITE_BYTES + 10)  # sparse: costs no disk
    with pytest.raises(TokbenchError, match="too big to be a suite file"):
        load_suite(str(big))
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # no writer: opening it would block for ever
    with pytest.raises(TokbenchError, match="not a regular file"):
        load_suite(str(fifo))
    with pytest.raises(TokbenchError, match="not a regular file"):
        load_suite("/dev/zero")


@pytest.mark.parametrize(
    ("grade", "why"),
    [
        ('extract = "larger_of"\nnumbers = ["9.11"]', "two decimal numbers"),
        ('extract = "larger_of"\nnumbers = ["9.11", "nine"]', "two decimal numbers"),
        ('extract = "last_number"\nscore = "numeric"\nexpected = "many"', "needs a number"),
    ],
)
def test_a_grading_mistake_is_found_when_the_suite_loads(
    tmp_path: Path, grade: str, why: str
) -> None:
    suite = tmp_path / "bad.toml"
    suite.write_text(f'[[items]]\nid = "q"\nprompt = "p"\n[items.grade]\n{grade}\n')
    with pytest.raises(TokbenchError, match=why):
        load_suite(str(suite))
