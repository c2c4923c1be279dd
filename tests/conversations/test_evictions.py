"""Which turns lost their cache and why, from the counters and the server's limits."""

from __future__ import annotations

from tokbench.conversations.cache import CacheReading
from tokbench.conversations.evictions import ServerLimits, limits_for, lost_caches
from tokbench.core.config import Connection, ConverseConfig


def _turns(*cached_computed: tuple[int, int]) -> dict[tuple[int, int], CacheReading]:
    return {(0, t): CacheReading(c, n, "server") for t, (c, n) in enumerate(cached_computed)}


KEPT_THEN_LOST = _turns((0, 100), (100, 40), (10, 170))  # turn 3 reused 10 of 140


def test_a_turn_that_reused_under_half_its_previous_prompt_lost_its_cache() -> None:
    cfg = ConverseConfig(conversations=1, concurrency=1)
    lost = lost_caches(KEPT_THEN_LOST, cfg, ServerLimits(slots=4, context_tokens=4096))
    assert [(x.conversation, x.turn, x.cached_tokens, x.previous_prompt_tokens) for x in lost] == [
        (0, 2, 10, 140)
    ]
    assert lost[0].reason.startswith("not known")
    assert lost[0].sentence.startswith("turn 3 of conversation 1 lost its cache (10 of 140")


def test_the_reason_is_the_first_that_holds() -> None:
    many = ConverseConfig(conversations=4, concurrency=4, max_tokens=32)
    assert lost_caches(KEPT_THEN_LOST, many, ServerLimits(slots=2))[0].reason == (
        "4 conversations in flight share 2 slots"
    )
    # the context comes first: 180 + 32 > 200
    full = lost_caches(KEPT_THEN_LOST, many, ServerLimits(slots=2, context_tokens=200))
    assert full[0].reason.startswith("its history (180 tokens)")
    pause = ConverseConfig(think_time_s=400.0)
    ollama = limits_for("ollama", None, None)
    assert lost_caches(KEPT_THEN_LOST, pause, ollama)[0].reason.startswith(
        "the think time (400 s) reached the server's idle limit (keep_alive 300 s)"
    )


def test_no_losses_with_the_cache_off_or_without_counters() -> None:
    off = ConverseConfig(Connection(prompt_cache=False))
    assert lost_caches(KEPT_THEN_LOST, off, ServerLimits(slots=1)) == ()
    silent = {(0, t): CacheReading(None, None, "not reported") for t in range(3)}
    assert lost_caches(silent, ConverseConfig(), ServerLimits(slots=1)) == ()


def test_limits_read_from_a_runs_stored_facts() -> None:
    assert limits_for("llama-server", 2, 4096) == ServerLimits(2, 4096, None)
    assert limits_for("llama-server", "2", None) == ServerLimits(None, None, None)
    assert limits_for("embedded", None, 8192).slots == 1
