"""Typical wall power of `plan`'s hardware presets, each figure with its source.

`measured` says whether a box like it was measured at the wall (a similar box, never
the user's own) or the range is an estimate from the parts' TDP; `plan` should print
estimates with a "~". The ranges are for LLM decode, which is memory-bound and keeps
the cores below their full-load draw.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PowerPreset:
    box: str  # plan.PRESETS key
    low_w: float
    high_w: float
    measured: bool
    source: str

    @property
    def typical_w(self) -> float:
        return (self.low_w + self.high_w) / 2


@dataclass(frozen=True, slots=True)
class PowerAnchor:
    """A published (speed, wall power) pair for a whole LLM run."""

    setup: str
    tokens_per_s: float
    wall_w: float
    source: str

    @property
    def j_per_token(self) -> float:
        return self.wall_w / self.tokens_per_s


_ANANDTECH_E5 = (
    "AnandTech, 'Investigating Cavium's ThunderX', energy page (anandtech.com/show/10353): "
    "servers at the wall under full load, Xeon E5-2640 v4 (90 W TDP) 143 W, "
    "Xeon E5-2690 v3 (135 W TDP) 254 W; idle 76 W and 84 W"
)

POWER_PRESETS = {
    p.box: p
    for p in (
        PowerPreset("seed-4ch", 140, 255, True, _ANANDTECH_E5),
        PowerPreset(
            "seed-1ch",
            140,
            255,
            True,
            _ANANDTECH_E5 + "; one DIMM instead of four changes the draw by a few watts",
        ),
        PowerPreset(
            "xeon-sp-2s",
            300,
            420,
            False,
            "estimate: 2 x 125 W TDP (Xeon Gold 6230) + ~50 W platform; Tom's Hardware "
            "(tomshardware.com/reviews/intel-cascade-lake-xeon-platinum-8280-8268-gold-6230"
            "-amd-epyc,6058-6.html) logged peaks above 400 W for a dual Gold 6230 platform",
        ),
        PowerPreset(
            "epyc-8ch",
            250,
            400,
            False,
            "estimate: one EPYC 7002/7003 at 225-280 W TDP (AMD spec, e.g. 7742, 7763) + "
            "DIMMs and board; AnandTech's Milan review (anandtech.com/show/16529, page 5) "
            "measured 65 W (Rome) to ~100 W (Milan) package power at idle",
        ),
        PowerPreset(
            "ddr5-12ch",
            400,
            600,
            False,
            "estimate: EPYC 9004/9005 at 200-400 W TDP + 12 DDR5 DIMMs; anchored on "
            "AmpereOne A192-32X (8 x DDR5) running DeepSeek R1 671B in Ollama at 477 W from "
            "the wall (github.com/geerlingguy/ai-benchmarks/issues/10)",
        ),
        PowerPreset(
            "epyc-8ch+gpu",
            350,
            650,
            False,
            "estimate: the epyc-8ch range + 100-250 W for a 24 GB GPU (RTX 4090: 450 W "
            "board power) that mostly waits on the CPU experts in hybrid decode",
        ),
    )
}

ANCHORS = (
    PowerAnchor(
        "AmpereOne A192-32X, 8 x DDR5, Ollama deepseek-r1:671b",
        4.18,
        477,
        "github.com/geerlingguy/ai-benchmarks/issues/10 (average from the wall)",
    ),
)
