"""Published scores: the table loads, every row names its source and setting, and model
names (GGUF files, server ids) find the right row and only it."""

from __future__ import annotations

import pytest

from tokbench.evals.items import BENCHMARKS
from tokbench.evals.summary import published_for, published_scores


def test_every_row_is_sourced() -> None:
    rows = published_scores()
    assert len(rows) >= 10
    for p in rows:
        assert p.benchmark in BENCHMARKS
        assert 0 < p.accuracy_pct <= 100
        assert p.source and p.setting and p.match


@pytest.mark.parametrize(
    ("name", "bench", "model"),
    [
        ("DeepSeek-R1-UD-IQ2_XXS", "mmlu", "DeepSeek-R1"),
        ("/models/DeepSeek-R1-Q4_K_M.gguf", "ceval", "DeepSeek-R1"),
        ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "gsm8k", "Llama 3.1 8B Instruct"),
        ("qwen2.5-7b-instruct", "gsm8k", "Qwen2.5 7B Instruct"),
        ("deepseek-v3-base", "cmmlu", "DeepSeek-V3 (base)"),
        ("DeepSeek-V3-Q2_K_XL", "ceval", "DeepSeek-V3"),
        ("gemma-3-4b-it-qat-q4_0", "gsm8k", "Gemma 3 4B Instruct"),
        ("Qwen2.5-32B-Instruct-Q4_K_M.gguf", "gsm8k", "Qwen2.5 32B Instruct"),
        ("qwen2.5-3b-instruct", "gsm8k", "Qwen2.5 3B Instruct"),  # not 32B's row
        # Ollama library names: the checkpoint the tag stands for
        ("qwen2.5:7b", "gsm8k", "Qwen2.5 7B Instruct"),
        ("qwen2.5:72b-instruct-q4_K_M", "gsm8k", "Qwen2.5 72B Instruct"),
        ("llama3.1:8b", "mmlu", "Llama 3.1 8B Instruct"),
        ("gemma3:27b", "gsm8k", "Gemma 3 27B Instruct"),
        ("hf.co/unsloth/DeepSeek-R1-GGUF:UD-IQ2_XXS", "mmlu", "DeepSeek-R1"),  # a repo's name
    ],
)
def test_matches(name: str, bench: str, model: str) -> None:
    found = published_for(name, bench)
    assert found is not None and found.model == model


@pytest.mark.parametrize(
    ("name", "bench"),
    [
        ("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M", "mmlu"),  # a distill is not its teacher
        ("Qwen2.5-Coder-7B-Instruct", "gsm8k"),
        ("gemma-3-270m-it", "mmlu"),
        ("DeepSeek-R1", "gsm8k"),  # the R1 paper gives no GSM8K score
        ("DeepSeek-R1-0528-Qwen3-8B", "mmlu"),  # a later checkpoint's distill
        ("DeepSeek-V3.1-Terminus", "mmlu"),  # a later model, not the one measured
        ("Qwen2.5-7B-Instruct-1M", "gsm8k"),
        ("Qwen2.5-7B-Instruct", "mmlu"),  # the blog gives its instruct models no MMLU
        (None, "mmlu"),
        # Ollama's deepseek-r1 tags are R1-0528 (671b) and distills, not January's R1
        ("deepseek-r1:671b", "mmlu"),
        ("deepseek-r1:7b", "mmlu"),
        ("deepseek-r1:latest", "ceval"),
        ("qwen2.5:7b-text-q4_K_M", "gsm8k"),  # the pre-trained model
        ("qwen2.5:latest", "gsm8k"),  # the size is not in the name
    ],
)
def test_no_false_match(name: str | None, bench: str) -> None:
    assert published_for(name, bench) is None
