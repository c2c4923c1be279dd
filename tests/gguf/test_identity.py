"""A model's identity: a GGUF's sha256 (read once, then taken from the data dir's cache),
named from its metadata; a served model's id with its quant and size."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tokbench.core.records import Target
from tokbench.gguf.identity import (
    cached_sha256,
    file_identity,
    file_sha256,
    gguf_display_name,
    identified,
    served_identity,
    sha_cache_file,
)
from tokbench.gguf.synth import shape_for, write_f16


def test_file_hash_is_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "model.gguf"
    f.write_bytes(b"x" * 100_000)
    cache = tmp_path / "hashes.json"
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    assert file_sha256(f, cache) == want
    assert want in json.loads(cache.read_text()).values()
    f.write_bytes(b"y" * 100_000)  # same size: the new mtime must invalidate
    os.utime(f, ns=(1, 2))
    assert file_sha256(f, cache) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_the_bundled_gemma_is_hashed_once_then_read_from_the_cache(
    gemma_path: Path, tb_home: Path
) -> None:
    assert sha_cache_file().parent == tb_home  # the cache lives in the data dir
    assert cached_sha256(gemma_path) is None
    first = file_identity(gemma_path)
    digest = cached_sha256(gemma_path)
    assert digest is not None and first.model_id == f"sha256:{digest}"
    assert first.model_name == "Gemma 3 270M Q4_K_M"
    # the second identity comes from the cache, not the file: a (planted) cached value
    # is what it returns, which reading 250 MB again could not give
    cache = json.loads(sha_cache_file().read_text())
    cache = {k: "0" * 64 if v == digest else v for k, v in cache.items()}
    sha_cache_file().write_text(json.dumps(cache))
    assert file_identity(gemma_path).model_id == "sha256:" + "0" * 64


def test_another_file_is_another_model(gemma_path: Path, tmp_path: Path) -> None:
    synth = tmp_path / "synth-f16.gguf"
    write_f16(synth, shape_for(2e6, quant="F16"))
    other = file_identity(synth)
    assert other.model_id.startswith("sha256:")
    assert other.model_id != file_identity(gemma_path).model_id
    assert other.model_name != "Gemma 3 270M Q4_K_M"


def test_display_name_says_the_size_once_and_the_file_type() -> None:
    meta = {"general.name": "Gemma 3 270m", "general.size_label": "270M", "general.file_type": 15}
    assert gguf_display_name(meta, "x") == "Gemma 3 270M Q4_K_M"
    assert gguf_display_name({"general.name": "Qwen3", "general.size_label": "8B"}, "x") == (
        "Qwen3 8B"
    )
    assert gguf_display_name({"general.file_type": "junk"}, "file-stem") == "file-stem"


def test_a_served_model_is_its_id_quant_and_size() -> None:
    a = served_identity("llama3.2:3b", "Q4_K_M", "3.2B")
    assert a.model_name == "llama3.2:3b Q4_K_M"
    assert a.model_id == served_identity("llama3.2:3b", "q4_k_m", "3.2B").model_id
    assert a.model_id != served_identity("llama3.2:3b", "Q8_0", "3.2B").model_id
    assert a.model_id != served_identity("llama3.2:3b", "Q4_K_M", "1B").model_id


def test_a_target_naming_a_file_here_is_that_file(gemma_path: Path) -> None:
    served = Target(backend_kind="llama-server", gguf_path=str(gemma_path), quantization="Q4_K_M")
    assert identified("gemma-3-270m", served).model_id == file_identity(gemma_path).model_id
    elsewhere = Target(backend_kind="llama-bench", gguf_path="/nowhere/gemma.gguf",
                       quantization="Q4_K - Medium", n_params=268098176)  # fmt: skip
    got = identified("gemma3 270M Q4_K - Medium", elsewhere)
    assert got.model_id == "served:gemma3 270m q4_k - medium|q4_k - medium|268098176"
    assert identified("x", got) == got  # an identity once given is kept
    # vLLM and GuideLLM name a served GGUF by its path: the file, when it is here
    by_path = identified(str(gemma_path), Target(backend_kind="vllm"))
    assert by_path.model_id == file_identity(gemma_path).model_id
