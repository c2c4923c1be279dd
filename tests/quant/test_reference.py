"""The compact reference file: round trip, damage detection, and the cached file hash."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tokbench.errors import TokbenchError
from tokbench.quant.reference import (
    FORMAT,
    Reference,
    ReferenceMeta,
    file_sha256,
    load_reference,
    save_reference,
)


def _ref(n_windows: int = 2, per: int = 5, k: int = 4) -> Reference:
    rng = np.random.default_rng(0)
    n = n_windows * per
    meta = ReferenceMeta(FORMAT, "ab" * 32, "m.gguf", 123, "cd" * 32, "builtin", "ef" * 32,
                         2 * per + 2, k, 1000, "f" * 32, n_windows, per)
    return Reference(meta, -rng.random(n), rng.integers(0, 1000, (n, k)).astype(np.int32),
                     -rng.random((n, k)).astype(np.float32), -rng.random(n).astype(np.float32))


def test_round_trip_is_exact_and_head_cuts_windows(tmp_path: Path) -> None:
    ref = _ref()
    path = tmp_path / "sub" / "r.npz"
    size = save_reference(path, ref)
    assert size == path.stat().st_size and not list(path.parent.glob(".*tmp"))
    back = load_reference(path)
    assert back.meta == ref.meta
    for name in ("actual_lp", "top_ids", "top_lp", "rest_lp"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ref, name))
    assert back.head(1).top_ids.shape == (5, 4)


def test_damaged_or_foreign_files_are_refused(tmp_path: Path) -> None:
    ref = _ref()
    wrong = tmp_path / "wrong.npz"
    save_reference(wrong, replace(ref, meta=replace(ref.meta, n_windows=3)))
    with pytest.raises(TokbenchError, match="damaged"):
        load_reference(wrong)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.frombuffer(json.dumps({"format": "x"}).encode(), dtype=np.uint8))
    with pytest.raises(TokbenchError, match="not a tokbench quant reference"):
        load_reference(other)
    with pytest.raises(TokbenchError, match="not found"):
        load_reference(tmp_path / "none.npz")


def test_file_hash_is_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "model.gguf"
    f.write_bytes(b"x" * 100_000)
    cache = tmp_path / "hashes.json"
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    assert file_sha256(f, cache) == want
    assert want in json.loads(cache.read_text()).values()
    f.write_bytes(b"y" * 100_000)  # same size: the new mtime must invalidate
    os.utime(f, ns=(1, 2))
    assert file_sha256(f, cache) == hashlib.sha256(f.read_bytes()).hexdigest()
