"""The built-in bilingual evaluation text and --text files."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from tokbench.errors import TokbenchError
from tokbench.quant.text import builtin_text, load_text


def test_builtin_text_is_bilingual_with_documented_sources() -> None:
    t = builtin_text()
    han = len(re.findall(r"[\u4e00-\u9fff]", t.text))
    latin = len(re.findall(r"[A-Za-z]", t.text))
    assert han > 20_000 and latin > 40_000
    sources = resources.files("tokbench.quant").joinpath("data", "SOURCES.md").read_text("utf-8")
    for source in ("Gettysburg", "Declaration of Independence", "King James", "fortunes-zh",
                   "桃花源记", "Public domain"):
        assert source in sources
    for opening in ("Four score and seven years ago", "When in the Course of human events",
                    "In the beginning God created", "晋太元中，武陵人捕鱼为业", "作者：杜甫"):
        assert opening in t.text
    assert load_text(None).sha256 == t.sha256


def test_builtin_text_holds_over_20k_gemma_tokens(gemma_path: Path) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gemma_path), vocab_only=True, verbose=False)
    n = len(llm.tokenize(builtin_text().text.encode(), add_bos=True, special=False))
    assert n >= 20_000


def test_text_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TokbenchError, match="no such file"):
        load_text(tmp_path / "missing.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(TokbenchError, match="not UTF-8"):
        load_text(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(TokbenchError, match="empty"):
        load_text(empty)
    ok = tmp_path / "ok.txt"
    ok.write_text("hello")
    assert load_text(ok).text == "hello"
