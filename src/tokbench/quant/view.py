"""What a quant comparison shows, fresh or read back from the store: plain records that
the renderers take without importing the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from tokbench.core.records import RunInfo
from tokbench.store.quant import QuantReference, QuantRow


@dataclass(frozen=True, slots=True)
class DecodeSpeed:
    """Decode tok/s measured by a comparison (quant.speed.measure_decode)."""

    tps: float  # mean of the repetitions
    se: float  # its standard error


@dataclass(frozen=True, slots=True)
class ModelSpeed:
    path: str
    size_bytes: int | None
    bytes_per_token: float | None
    bandwidth_gbs: float | None
    bound_tps: float | None  # None: the host's bandwidth was never measured
    decode_tps: float | None  # measured by a run or bench of this file
    decode_run: str | None  # the run that measured it


@dataclass(frozen=True, slots=True)
class HttpScoring:
    """How a candidate served over HTTP was read (shown by the comparison that measured it;
    not stored: a stored run keeps only its `reference_kind`)."""

    kld_approx: bool  # some reference ids were not returned: bounded, not read
    bounded_ref_ids: int
    bounded_ref_share: float  # of the reference's kept ids
    prompt_logprobs: int  # the top-N log-probs asked for per position
    server_url: str


@dataclass(frozen=True, slots=True)
class QuantView:
    """One comparison: its run (None when nothing was stored), the reference, one row per
    candidate, the speed facts of every model file by path, and (a fresh comparison over
    HTTP) how the server's candidate was read."""

    run: RunInfo | None
    reference: QuantReference
    rows: list[QuantRow]
    speeds: dict[str, ModelSpeed] = field(default_factory=dict)
    http: HttpScoring | None = None
