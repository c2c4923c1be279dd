"""Our numbers beside llama.cpp's own `llama-perplexity` on the bundled Gemma and a Q2_K
requant of it: same text, same context, same chunks. Perplexity within 1 %, mean KLD within
5 %; the compact KLD (the reference file's) stays within 5 % below the full KLD."""

from __future__ import annotations

import re
import subprocess
from importlib import resources
from pathlib import Path

from tokbench.quant.evaluate import evaluate

from .conftest import tool

CTX, CHUNKS = 128, 4


def _run(args: list[str]) -> str:
    r = subprocess.run([str(tool("llama-perplexity")), *args, "-t", "2"],
                       capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    return out


def _num(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in llama-perplexity output:\n{text[-3000:]}"
    return float(found.group(1))


def test_matches_llama_perplexity(gemma_path: Path, gemma_q2k: Path, tmp_path: Path) -> None:
    text = resources.files("tokbench.quant").joinpath("data", "eval_en_zh.txt")
    base = tmp_path / "base.kld"
    common = ["-c", str(CTX), "--chunks", str(CHUNKS)]
    _run(["-m", str(gemma_path), "-f", str(text), *common, "--kl-divergence-base", str(base)])
    out = _run(["-m", str(gemma_q2k), *common, "--kl-divergence-base", str(base),
                "--kl-divergence"])
    lp_ppl_q = _num(r"Mean PPL\(Q\)\s*:\s*([\d.]+)", out)
    lp_ppl_base = _num(r"Mean PPL\(base\)\s*:\s*([\d.]+)", out)
    lp_kld = _num(r"Mean\s+KLD:\s*([\d.]+)", out)
    lp_same = _num(r"Same top p:\s*([\d.]+)", out) / 100

    ours = evaluate(gemma_q2k, n_ctx=CTX, chunks=CHUNKS, threads=2, reference=gemma_path)
    assert ours.kld is not None and ours.kld_compact is not None
    assert ours.compact_error is not None
    assert ours.reference_perplexity is not None and ours.same_top_rate is not None
    print(f"\nllama-perplexity: PPL(Q) {lp_ppl_q:.4f} PPL(base) {lp_ppl_base:.4f} "
          f"KLD {lp_kld:.6f} same-top {lp_same:.4f}")
    print(f"tokbench:         PPL(Q) {ours.perplexity:.4f} PPL(base) "
          f"{ours.reference_perplexity:.4f} KLD {ours.kld.mean:.6f} same-top "
          f"{ours.same_top_rate:.4f}; compact KLD {ours.kld_compact.mean:.6f} "
          f"({100 * ours.compact_error.mean_rel:.2f} % below full)")
    assert abs(ours.perplexity / lp_ppl_q - 1) < 0.01
    assert abs(ours.reference_perplexity / lp_ppl_base - 1) < 0.01
    assert abs(ours.kld.mean / lp_kld - 1) < 0.05
    assert abs(ours.same_top_rate - lp_same) < 0.03
    assert ours.kld.mean > 0.05  # Q2_K moves the distribution: the comparison means something
    assert 0 <= ours.compact_error.mean_rel < 0.05
