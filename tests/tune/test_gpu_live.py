"""GPU placement measured on a real GPU: opt-in, like the live server tests (no GPU here;
the placement logic itself is covered by the predictor's and the search's unit tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import tokbench

LIVE = os.environ.get("TOKBENCH_LIVE_GPU_SERVER")


@pytest.mark.skipif(
    not LIVE, reason="set TOKBENCH_LIVE_GPU_SERVER=PATH (a GPU build of llama-server) to run"
)
def test_gpu_layer_placement_is_tuned_live(gemma_path: Path, tmp_path: Path) -> None:
    r = tokbench(
        "tune",
        str(gemma_path),
        "--server-bin",
        str(LIVE),
        "--only",
        "ngl",
        "-r",
        "2",
        "--max-reps",
        "3",
        "-n",
        "32",
        "--format",
        "md",
        "--db",
        str(tmp_path / "t.db"),
    )
    assert r.returncode == 0, r.stderr
    assert "ngl" in r.stdout and "-ngl" in r.stdout  # measured, and in the command line
