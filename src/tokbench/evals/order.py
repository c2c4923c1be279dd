"""A benchmark's items in an order where every prefix is a fair sample of the whole.

Within each stratum (subject) the items are shuffled; the j-th of a stratum of N_h items gets
the key (j + u_h) / N_h, with u_h a random start in [0, 1), and all items are sorted by key.
Any prefix of n items then holds n·N_h/N items of each stratum, give or take one: a
proportional stratified sample (systematic within strata), and every item has the same
chance to be in it. So the plain mean of a prefix is the stratified estimate of the full
set, and stratification only narrows its spread compared with a simple random sample.
The seed fixes the order: the shipped subsets are the first items of this order."""

from __future__ import annotations

import random
from collections import defaultdict

from tokbench.evals.items import EvalItem

SEED = 23  # issue 23: the shipped subsets and any full set given by path use it


def prefix_fair_order(items: list[EvalItem], seed: int = SEED) -> list[EvalItem]:
    strata: dict[str, list[EvalItem]] = defaultdict(list)
    for item in sorted(items, key=lambda i: i.id):
        strata[item.subject].append(item)
    keyed: list[tuple[float, str, EvalItem]] = []
    for subject, members in strata.items():
        rng = random.Random(f"{seed}:{subject}")  # per stratum: adding one leaves others be
        rng.shuffle(members)
        start = rng.random()
        keyed += [((j + start) / len(members), subject, it) for j, it in enumerate(members)]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [it for _, _, it in keyed]
