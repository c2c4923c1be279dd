"""The compact reference file: round trip, damage detection, and the cached file hash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tokbench.errors import TokbenchError
from tokbench.quant.reference import (
    FORMAT,
    Reference,
    ReferenceMeta,
    load_reference,
    save_reference,
)
from tokbench.quant.score import covering_rows

N_VOCAB = 1000


def make_reference(n_windows: int = 2, n_ctx: int = 16, mass: float = 0.9,
                   max_k: int = 64) -> Reference:
    """A valid reference over random logits (shared with the hostile-file tests)."""
    rng = np.random.default_rng(0)
    per = n_ctx - 1 - n_ctx // 2
    n = n_windows * per
    x = (rng.standard_normal((n, N_VOCAB)) * 3).astype(np.float32)
    rows = covering_rows(x, rng.integers(0, N_VOCAB, n).astype(np.int32), mass, max_k)
    meta = ReferenceMeta(
        format=FORMAT, model_sha256="ab" * 32, model_name="m.gguf", model_size_bytes=123,
        text_sha256="cd" * 32, text_name="builtin", tokens_sha256="ef" * 32, n_ctx=n_ctx,
        n_vocab=N_VOCAB, vocab_fingerprint="f" * 32, n_windows=n_windows,
        scored_per_window=per, mass=mass, max_k=max_k,
    )
    return Reference(meta, rows)


def test_round_trip_is_exact_and_head_cuts_windows(tmp_path: Path) -> None:
    ref = make_reference()
    path = tmp_path / "sub" / "r.npz"
    size = save_reference(path, ref)
    assert size == path.stat().st_size and not list(path.parent.glob(".*tmp"))
    back = load_reference(path)
    assert back.meta == ref.meta
    for name in ("actual_lp", "counts", "ids", "lps", "rest_lp", "tail_plogp"):
        np.testing.assert_array_equal(getattr(back.rows, name), getattr(ref.rows, name))
    head = back.head(1).rows
    assert head.counts.shape == (7,) and head.ids.shape == (int(head.counts.sum()),)
    assert np.all(ref.rows.counts > 1)  # the mass rule kept several tokens, not a fixed k


def test_an_old_fixed_top_k_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    old = tmp_path / "old.npz"
    meta = json.dumps({"format": "tokbench-quant-reference/1", "top_k": 32}).encode()
    np.savez(old, meta=np.frombuffer(meta, dtype=np.uint8))
    with pytest.raises(TokbenchError, match=r"older tokbench.*build it again"):
        load_reference(old)
