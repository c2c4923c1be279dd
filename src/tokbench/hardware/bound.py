"""The speed a box can reach: a model's bytes read per token against the host's bandwidth,
kept with every run and bench target (`Target.bound_tps`)."""

from __future__ import annotations

from pathlib import Path

from tokbench.core.records import SpeedBound
from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import analyze
from tokbench.gguf.reader import read_model
from tokbench.hardware.saved import load_bandwidth


def speed_bound(gguf_path: str | None) -> SpeedBound | None:
    """The decode bound of a run whose model file is known here and whose host bandwidth
    was measured (`tokbench hw --bandwidth`): weights only, all in RAM. None when either
    is unknown."""
    bw = load_bandwidth()
    if not gguf_path or bw is None or not Path(gguf_path).is_file():
        return None
    try:
        bytes_per_token = analyze(read_model(Path(gguf_path))).bytes_per_token
    except TokbenchError:
        return None
    return SpeedBound(bw, round(bytes_per_token), bw * 1e9 / bytes_per_token)
