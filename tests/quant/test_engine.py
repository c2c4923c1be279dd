"""evaluate() and build_reference() on the real engine: a model against itself, a quant
ladder of one random-weight model, and the bad inputs that must stop with one clear error."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tokbench.errors import TokbenchError
from tokbench.quant.evaluate import build_reference, evaluate
from tokbench.quant.reference import load_reference
from tokbench.quant.text import load_text

from .conftest import LADDER

CTX = 128


def test_gemma_against_itself_is_exactly_zero(gemma_path: Path, tmp_path: Path) -> None:
    ref_file = tmp_path / "gemma.ref.npz"
    summary = build_reference(gemma_path, ref_file, n_ctx=CTX, chunks=2, threads=2)
    assert summary.meta.n_windows == 2 and summary.meta.mass == 0.999
    res = evaluate(gemma_path, n_ctx=CTX, chunks=2, threads=2, reference=ref_file)
    assert res.reference_kind == "file" and res.scored_tokens == 2 * (CTX - 1 - CTX // 2)
    assert res.kld is not None and res.kld.mean == 0.0 and res.kld.max == 0.0
    # the upper bound assumes the worst placement of the uncovered mass: above 0 even here
    assert not res.kld_exact and res.kld_upper is not None and 0.0 <= res.kld_upper < 1.0
    assert res.same_top_rate == 1.0
    assert res.perplexity == res.reference_perplexity == summary.perplexity
    assert res.delta_p_mean == 0.0 and res.delta_p_top_mean == 0.0
    assert 1.0 < res.perplexity < 1e4
    # live mode, the full distributions on both sides: also zero
    live = evaluate(gemma_path, n_ctx=CTX, chunks=1, threads=2, reference=gemma_path)
    assert live.kld is not None and live.compact_error is not None and live.kld_exact
    assert live.kld.max == 0.0 and live.same_top_rate == 1.0


def test_reference_file_covers_its_mass(gemma_path: Path, tmp_path: Path) -> None:
    s = build_reference(gemma_path, tmp_path / "r.npz", n_ctx=CTX, chunks=3, threads=2,
                        mass=0.99, max_k=2048)
    ref = load_reference(Path(s.path)).rows
    uncovered = np.exp(ref.rest_lp.astype(np.float64))
    # each position keeps what covers 0.99, or hits the cap
    assert np.all((uncovered <= 0.01 + 1e-5) | (ref.counts == 2048))
    assert ref.counts.min() >= 1 and ref.counts.max() > 32  # not a fixed top-k
    per_position = s.size_bytes / ref.counts.size
    print(f"\n{per_position:.0f} bytes per position, {ref.counts.mean():.0f} tokens kept")


def test_quant_ladder_orders_kld_and_same_top(
    synth_ladder: dict[str, Path], tmp_path: Path
) -> None:
    # a fixed text; short because the byte-level synthetic vocabulary tokenizes slowly
    text = tmp_path / "fixed.txt"
    text.write_text(load_text().text[:4000])
    ref_file = tmp_path / "f16.ref.npz"
    build_reference(synth_ladder["F16"], ref_file, text=text, n_ctx=256, chunks=2, threads=2)
    rows = [evaluate(synth_ladder[q], text=text, n_ctx=256, chunks=2, threads=2,
                     reference=ref_file) for q in LADDER]
    klds = [r.kld.mean for r in rows if r.kld is not None]
    tops = [r.same_top_rate for r in rows if r.same_top_rate is not None]
    table = "\n".join(f"{q:7} kld {k:.6f} same-top {t:.3f}"
                      for q, k, t in zip(LADDER, klds, tops, strict=True))
    assert all(a < b for a, b in itertools.pairwise(klds)), table
    assert all(a >= b for a, b in itertools.pairwise(tops)), table
    assert tops[0] > tops[-1] + 0.1, table
    print("\n" + table)


def test_bad_inputs_give_one_clear_error(
    gemma_path: Path, synth_ladder: dict[str, Path], tmp_path: Path
) -> None:
    short = tmp_path / "short.txt"
    short.write_text("Too short for a window.")
    out = tmp_path / "never.npz"
    with pytest.raises(TokbenchError, match="fewer than one window"):
        build_reference(gemma_path, out, text=short, n_ctx=CTX, threads=2)
    assert not out.exists() and not list(tmp_path.glob(".never*"))
    with pytest.raises(TokbenchError, match="fewer than one window"):
        evaluate(gemma_path, text=short, n_ctx=CTX, threads=2)

    ref_file = tmp_path / "g.npz"
    build_reference(gemma_path, ref_file, n_ctx=CTX, chunks=1, threads=2)
    other = tmp_path / "other.txt"
    other.write_text(load_text().text[5000:])
    with pytest.raises(TokbenchError, match="another text"):
        evaluate(gemma_path, text=other, n_ctx=CTX, chunks=1, reference=ref_file)
    with pytest.raises(TokbenchError, match="--ctx 128, this run uses --ctx 256"):
        evaluate(gemma_path, n_ctx=256, chunks=1, reference=ref_file)
    with pytest.raises(TokbenchError, match="holds 1 windows"):
        evaluate(gemma_path, n_ctx=CTX, chunks=2, reference=ref_file)
    with pytest.raises(TokbenchError, match="another vocabulary"):
        evaluate(synth_ladder["Q8_0"], n_ctx=CTX, chunks=1, reference=ref_file)
    with pytest.raises(TokbenchError, match="different vocabularies"):
        evaluate(synth_ladder["Q8_0"], n_ctx=CTX, chunks=1, reference=gemma_path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(TokbenchError, match="not a tokbench quant reference"):
        evaluate(gemma_path, n_ctx=CTX, chunks=1, reference=junk)
    with pytest.raises(TokbenchError, match="not found"):
        evaluate(tmp_path / "missing.gguf", n_ctx=CTX, chunks=1)
