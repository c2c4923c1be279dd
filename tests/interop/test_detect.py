"""Files of another kind, or too big or too deep, get one sentence naming what is understood."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokbench.errors import TokbenchError
from tokbench.interop import detect
from tokbench.interop.detect import FORMATS, parse_file, parse_text

UNDERSTOOD = r"llama-bench output .*vllm bench serve.* GuideLLM"


@pytest.mark.parametrize(
    "text",
    [
        "hello world\n",
        '{"model": "x", "choices": []}',
        "[1, 2, 3]",
        "name,value\na,1\n",
        "",
    ],
)
def test_other_kinds_name_the_formats_understood(text: str) -> None:
    with pytest.raises(TokbenchError, match=UNDERSTOOD) as info:
        parse_text(text, filename="notes.txt")
    assert str(info.value).count("\n") == 0
    assert str(info.value).startswith("notes.txt is not a benchmark file")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00\xff\xfe")
    with pytest.raises(TokbenchError, match="not UTF-8 text"):
        parse_file(path)


def test_missing_file() -> None:
    with pytest.raises(TokbenchError, match="cannot read"):
        parse_file("/nonexistent/bench.json")


def test_deep_nesting_is_refused() -> None:
    deep = "[" * 100 + "]" * 100
    with pytest.raises(TokbenchError, match="nests deeper than 64"):
        parse_text(deep, "llama-bench-json")
    very_deep = '{"benchmarks": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(TokbenchError, match="nests deeper"):
        parse_text(very_deep, "guidellm-json")


def test_size_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    path.write_text("[" + " " * 100 + "]")
    monkeypatch.setattr(detect, "MAX_BYTES", 50)
    with pytest.raises(TokbenchError, match="larger than"):
        parse_file(path)


def test_forced_format_and_unknown_format() -> None:
    with pytest.raises(TokbenchError, match="unknown import format 'csvx'"):
        parse_text("x", "csvx")
    assert set(FORMATS) >= {
        "llama-bench-json",
        "llama-bench-md",
        "vllm-bench-serve",
        "guidellm-json",
        "guidellm-yaml",
    }
    # A vLLM file forced through the llama-bench reader fails with that reader's sentence.
    with pytest.raises(TokbenchError, match="not a list of test records"):
        parse_text(
            '{"model_id": "m", "completed": 1, "request_throughput": 1.0}', "llama-bench-json"
        )


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    import hashlib

    text = '\ufeff[{"n_prompt": 16, "n_gen": 0, "avg_ts": 5.5, "stddev_ts": 0.5}]'
    path = tmp_path / "b.json"
    path.write_text(text, encoding="utf-8")
    run = parse_file(path)
    assert run.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert run.tests[0].mean_tps == 5.5
    assert parse_file(path).file_sha256 == run.file_sha256  # same file, same key
