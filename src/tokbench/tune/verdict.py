"""How two candidates' speeds compare: the rule every duel, the pick and the sensitivity use.

Speeds are compared as the ratio of geometric means (`core.stats.ratio_ci`), so a 5 % gain
reads the same at 2 and at 200 tok/s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tokbench.core.stats import ratio_ci

Verdict = Literal["better", "worse", "same", "undecided"]


@dataclass(frozen=True, slots=True)
class RatioTest:
    """Speed ratio a/b (geometric means) with its 95 % interval and what it decides."""

    ratio: float
    low: float
    high: float
    verdict: Verdict

    @property
    def decided(self) -> bool:
        return self.verdict != "undecided"


def compare(a: Sequence[float], b: Sequence[float], same_within: float = 0.02) -> RatioTest:
    """Is a faster than b?

    better/worse need the 99 % interval to exclude 1 and the ratio to pass half of
    `same_within`: the search looks again after every added repetition, and 95 % per look
    would let a knob with no effect win about one duel in ten. `same` needs the 95 %
    interval inside ±same_within. The 95 % interval is the one reported.
    """
    r95, r99 = ratio_ci(a, b, 0.95), ratio_ci(a, b, 0.99)
    diff, band = math.log(r95.ratio), math.log1p(same_within)
    verdict: Verdict = "undecided"
    if r99.low > 1 and diff > band / 2:
        verdict = "better"
    elif r99.high < 1 and diff < -band / 2:
        verdict = "worse"
    elif r95.low > math.exp(-band) and r95.high < math.exp(band):
        verdict = "same"
    return RatioTest(r95.ratio, r95.low, r95.high, verdict)
