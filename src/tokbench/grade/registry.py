"""Graders by name, as suite files refer to them (`grader = "seed5.weekday"`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tokbench.core.records import Grade
from tokbench.grade import seed5

GRADERS: dict[str, Callable[[str], Grade]] = {
    "seed5.essay": seed5.essay_length,
    "seed5.essay-en": partial(seed5.essay_length, english=True),
    "seed5.compare-decimals": seed5.compare_decimals,
    "seed5.quatrain": seed5.quatrain,
    "seed5.weekday": seed5.weekday,
    "seed5.physics-choice": seed5.physics_choice,
}
