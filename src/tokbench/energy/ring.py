"""A fixed-capacity ring of timestamped values, searchable by time with bisect.

Memory and per-sample work stay constant however long a run lasts: when the ring is
full the oldest sample is overwritten.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Times:
    """The ring's timestamps in logical order (oldest first), as a sequence for bisect."""

    def __init__(self, time: Callable[[int], int], size: int) -> None:
        self._time = time
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, i: int) -> int:
        return self._time(i)


class Ring(Generic[T]):
    """Timestamped values in increasing time order; index 0 is the oldest kept."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("a ring needs room for at least two samples")
        self.capacity = capacity
        self._t = array("q", bytes(8 * capacity))
        self._v: list[T | None] = [None] * capacity
        self._start = 0
        self.size = 0
        self.dropped = 0

    def append(self, t_ns: int, value: T) -> None:
        if self.size and t_ns < self.time(self.size - 1):
            raise ValueError("samples must arrive in time order")
        if self.size < self.capacity:
            pos = (self._start + self.size) % self.capacity
            self.size += 1
        else:
            pos = self._start
            self._start = (self._start + 1) % self.capacity
            self.dropped += 1
        self._t[pos] = t_ns
        self._v[pos] = value

    def time(self, i: int) -> int:
        return self._t[self._phys(i)]

    def value(self, i: int) -> T:
        v = self._v[self._phys(i)]
        assert v is not None  # every index below size was written
        return v

    def last_at_or_before(self, t_ns: int) -> int | None:
        """Index of the newest sample taken at or before t_ns, None if all are later."""
        i = bisect_right(_Times(self.time, self.size), t_ns) - 1
        return i if i >= 0 else None

    def first_at_or_after(self, t_ns: int) -> int | None:
        """Index of the oldest sample taken at or after t_ns, None if all are earlier."""
        i = bisect_left(_Times(self.time, self.size), t_ns)
        return i if i < self.size else None

    def _phys(self, i: int) -> int:
        if not 0 <= i < self.size:
            raise IndexError(i)
        return (self._start + i) % self.capacity
