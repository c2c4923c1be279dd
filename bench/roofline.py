"""Roofline check: synthetic dense and MoE models from ~50 MB to several GB, run on the
embedded engine; predicted decode tok/s = measured bandwidth / bytes read per token x ONE
efficiency calibrated across all of them. Prints bound, measured, predicted and the
ratio measured / predicted for each (target: within +-20 %).

Usage: python bench/roofline.py [--sizes 50,150,500,1500] [--reps 5] [--keep DIR]

Sizes are MB read per token by the dense models (about their Q4_K_M file size). The MoE
models have DeepSeek's layout (16 routed experts, 2 used, 1 shared expert, a leading
dense layer) and read a quarter of that per token from a file of about the same size.
The largest F16 intermediate needs ~4x the file size in RAM.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tokbench.backends.embedded import EmbeddedBackend
from tokbench.backends.embedded_bench import EmbeddedBench
from tokbench.core.config import BenchTest
from tokbench.gguf.analysis import analyze
from tokbench.gguf.reader import read_model
from tokbench.gguf.synth import shape_for, synthesize
from tokbench.hardware.probe import physical_cores
from tokbench.hardware.survey import measure


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="50,150,500,1500")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keep", type=Path)
    a = ap.parse_args()
    sizes = [float(s) * 1e6 for s in a.sizes.split(",")]
    threads = physical_cores()
    bw = measure().all_cores_gbs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            for moe in (False, True):
                shape = shape_for(
                    bytes_per_token=size / 4 if moe else size,
                    quant="Q4_K_M",
                    moe=moe,
                    experts=16,
                    experts_used=2,
                    shared_experts=1 if moe else 0,
                    dense_lead=1 if moe else 0,
                )
                path = folder / f"{'moe' if moe else 'dense'}-{size / 1e6:.0f}MB.gguf"
                if not path.exists():
                    synthesize(path, shape, "Q4_K_M")
                an = analyze(read_model(path))
                eb = EmbeddedBench(
                    EmbeddedBackend(path, threads=threads, n_ctx=512, chat_format="chatml")
                )
                eb.measure(BenchTest("tg", 32), -1)
                tps = statistics.median(
                    eb.measure(BenchTest("tg", 32), r).tps or 0 for r in range(a.reps)
                )
                eb.close()
                bound = bw * 1e9 / an.bytes_per_token
                rows.append((path.name, an.total_bytes, an.bytes_per_token, bound, tps))
                print(f"measured {path.name}: {tps:.1f} tok/s (bound {bound:.1f})", flush=True)
    eta = statistics.median(tps / bound for *_, bound, tps in rows)
    print(
        f"\nbandwidth {bw:.1f} GB/s (measured, all cores), {threads} threads; "
        f"calibrated efficiency {eta:.2f}"
    )
    print(
        f"{'model':<22}{'file MB':>9}{'read/token MB':>15}{'bound':>9}{'predicted':>11}"
        f"{'measured':>10}{'meas/pred':>11}"
    )
    for name, total, per_token, bound, tps in rows:
        pred = bound * eta
        print(
            f"{name:<22}{total / 1e6:>9.0f}{per_token / 1e6:>15.0f}{bound:>9.1f}"
            f"{pred:>11.1f}{tps:>10.1f}{tps / pred:>11.2f}"
        )
    worst = max(abs(tps / (bound * eta) - 1) for *_, bound, tps in rows)
    print(f"worst deviation: {worst:.0%} (target <= 20%)")


if __name__ == "__main__":
    main()
