"""Which turns lost their prompt cache, and why (docs/metrics.md, "Lost caches").

A turn resends its conversation's previous prompt plus the answer and a new question, so a
server that kept the conversation's cache reuses at least most of the previous prompt. A
turn whose cached tokens (the server's own counter) are under `LOST_SHARE` of the previous
turn's prompt lost it. The reason is the first of these that holds, from what the server
said of itself (`/props`: `total_slots`, the per-slot context) and the run's settings:

- context: the history plus the answer no longer fit the server's (per-slot) context;
- slots: more conversations in flight than the server has slots, so another
  conversation's turn took the slot in between;
- think time: the user's pause reached the server's idle limit (Ollama's `keep_alive`,
  5 minutes unless the server was told otherwise);
- otherwise "not known": the counters show the loss, not its cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tokbench.conversations.cache import CacheReading
from tokbench.core.config import ConverseConfig

LOST_SHARE = 0.5
OLLAMA_KEEP_ALIVE_S = 300.0  # Ollama's default keep_alive


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What the server said of its capacity (None: it did not say)."""

    slots: int | None = None
    context_tokens: int | None = None  # per slot
    keep_alive_s: float | None = None


NO_LIMITS = ServerLimits()


@dataclass(frozen=True, slots=True)
class LostCache:
    conversation: int  # 0-based
    turn: int  # 0-based
    cached_tokens: int
    previous_prompt_tokens: int  # what the turn could have reused at least
    reason: str

    @property
    def sentence(self) -> str:
        return (
            f"turn {self.turn + 1} of conversation {self.conversation + 1} lost its cache "
            f"({self.cached_tokens} of {self.previous_prompt_tokens} tokens reused): {self.reason}"
        )


def limits_for(server_kind: str, total_slots: object, n_ctx: object) -> ServerLimits:
    """The limits a run's stored target holds (facts read from `/props`)."""
    slots = total_slots if isinstance(total_slots, int) and total_slots > 0 else None
    ctx = n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None
    keep = OLLAMA_KEEP_ALIVE_S if server_kind == "ollama" else None
    if server_kind == "embedded":
        slots = 1  # one context, one conversation's prefix at a time
    return ServerLimits(slots, ctx, keep)


def _reason(cfg: ConverseConfig, limits: ServerLimits, context: int) -> str:
    if limits.context_tokens is not None and context + cfg.max_tokens > limits.context_tokens:
        return (
            f"its history ({context} tokens) and answer fill the server's context "
            f"({limits.context_tokens} tokens a slot)"
        )
    in_flight = min(cfg.concurrency, cfg.conversations)
    if limits.slots is not None and in_flight > limits.slots:
        s = "slot" if limits.slots == 1 else "slots"
        return f"{in_flight} conversations in flight share {limits.slots} {s}"
    if limits.keep_alive_s is not None and cfg.think_time_s >= limits.keep_alive_s:
        return (
            f"the think time ({cfg.think_time_s:g} s) reached the server's idle limit "
            f"(keep_alive {limits.keep_alive_s:g} s)"
        )
    return "not known (the server's counters show the loss, not its cause)"


def lost_caches(
    readings: Mapping[tuple[int, int], CacheReading],
    cfg: ConverseConfig,
    limits: ServerLimits,
) -> tuple[LostCache, ...]:
    """Every turn (after a conversation's first) that reused less than `LOST_SHARE` of
    its previous turn's prompt, with its reason. `readings`: the answered turns' cache
    counters by (conversation, turn). None when the run turned the cache off; turns
    whose server reports no counters are not judged."""
    if not cfg.prompt_cache:
        return ()
    prompts = {
        key: (r.cached_tokens, r.cached_tokens + r.computed_tokens)
        for key, r in readings.items()
        if r.cached_tokens is not None and r.computed_tokens is not None
    }
    out = []
    for (conv, turn), (cached, prompt) in sorted(prompts.items()):
        before = prompts.get((conv, turn - 1))
        if turn == 0 or before is None or cached >= LOST_SHARE * before[1]:
            continue
        out.append(LostCache(conv, turn, cached, before[1], _reason(cfg, limits, prompt)))
    return tuple(out)
